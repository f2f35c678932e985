//! The transport seam without a shard: a test [`Host`] records what serving
//! hands it, over a connected stream that no listener accepted (a Unix
//! socket pair), as a TLS stream will be handed in.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use super::admission::Gate;
use super::host::Wire;
use super::rawsocket::{self, FrameKind};
use super::*;
use crate::codec::Serializer;
use crate::router::{ConnId, ShardId, TransportId};
use crate::wamp::message::MessageType;

/// Records what the transport tells it; echoes every frame back.
#[derive(Default)]
struct TestHost {
    frames: RefCell<Vec<Bytes>>,
    outbox: RefCell<Option<Rc<Outbox>>>,
    opened: RefCell<Vec<(Serializer, TransportId, Wire, String)>>,
    closed: Cell<usize>,
    protocol_errors: Cell<u64>,
}

impl Host for TestHost {
    fn shard(&self) -> ShardId {
        0
    }

    fn stopping(&self) -> bool {
        false
    }

    fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        wire: Wire,
        peer: &str,
        _tls: Option<std::sync::Arc<crate::router::TlsInfo>>,
        limits: QueueLimits,
    ) -> (ConnId, Rc<Outbox>) {
        self.opened
            .borrow_mut()
            .push((serializer, transport, wire, peer.to_owned()));
        let ob = Rc::new(Outbox::new(limits));
        *self.outbox.borrow_mut() = Some(ob.clone());
        (7, ob)
    }

    fn frame(&self, conn: ConnId, frame: &Bytes) {
        assert_eq!(conn, 7);
        self.frames.borrow_mut().push(frame.clone());
        if let Some(ob) = self.outbox.borrow().as_ref() {
            ob.push(frame.clone(), MessageType::Event);
        }
    }

    fn closed(&self, conn: ConnId) {
        assert_eq!(conn, 7);
        self.closed.set(self.closed.get() + 1);
    }

    fn note_tls_handshake_failure(&self) {}

    fn note_transport_protocol_error(&self) {
        self.protocol_errors.set(self.protocol_errors.get() + 1);
    }

    fn note_oversize_message(&self) {}

    fn note_connection_refused(&self) {}
}

fn rawsocket_spec() -> ListenerSpec {
    ListenerSpec {
        id: 3,
        name: "rs".into(),
        kind: ListenerKind::RawSocket(RawSocketOptions::default()),
        endpoint: EndpointSpec::Unix("/nonexistent".into()),
        serializers: vec![Serializer::Json],
        auth: Default::default(),
        queue: QueueLimits::default(),
        shards: None,
        backlog: 16,
        limits: Default::default(),
        gauge: Default::default(),
        tls: None,
    }
}

#[test]
fn a_connected_stream_of_any_kind_is_served_for_any_host() {
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).spawn(|| async {
        let host = Rc::new(TestHost::default());
        let l = Rc::new(rawsocket_spec());
        let gate = Gate::new(l.limits, l.gauge.clone());
        let admission = gate.admit().expect("no caps");
        let (server, mut client) = glommio::net::UnixStream::pair().expect("a socket pair");
        serve::serve(host.clone(), l.clone(), server, "pair".into(), admission);

        client
            .write_all(&rawsocket::client_handshake(24, Serializer::Json))
            .await
            .unwrap();
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(reply[0], 0x7f, "the RawSocket magic octet");
        let payload = br#"[1,"realm1",{}]"#;
        let mut out = BytesMut::new();
        rawsocket::encode_frame(FrameKind::Message, payload, 1 << 24, &mut out).unwrap();
        client.write_all(&out).await.unwrap();
        // The host echoes the frame through the connection's outbox.
        let mut echo = vec![0u8; out.len()];
        client.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, out.to_vec());
        drop(client);
        while host.closed.get() == 0 {
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
        }
        let opened = host.opened.borrow();
        assert_eq!(opened.len(), 1);
        assert_eq!((opened[0].0, opened[0].1), (Serializer::Json, 3));
        assert_eq!(opened[0].2, Wire::RawSocket);
        assert_eq!(opened[0].3, "pair");
        assert_eq!(
            host.frames.borrow().as_slice(),
            &[Bytes::from_static(payload)]
        );
        assert_eq!(host.closed.get(), 1);
        assert_eq!(host.protocol_errors.get(), 0);
        assert_eq!(l.gauge.open(), 0, "the admission was given back");
    });
    ex.expect("a glommio executor (io_uring)").join().unwrap();
}
