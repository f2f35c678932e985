//! The glommio dialer (`transport::dial`) against a router on 127.0.0.1:0 and
//! on Unix sockets, over WebSocket and RawSocket: join, register and invoke,
//! subscribe and publish (acknowledged), progressive results, cancel, errors,
//! and leaving.

mod common;

use std::path::PathBuf;

use common::{listener, open_realm};
use shardwamp::client::auth::Anonymous;
use shardwamp::client::session::values_of;
use shardwamp::codec::Serializer;
use shardwamp::dict;
use shardwamp::shard::{self, RouterSpec};
use shardwamp::transport::dial::{self, CallStep, DialOptions, Session, Transport};
use shardwamp::transport::EndpointSpec;
use shardwamp::wamp::message::Payload;
use shardwamp::wamp::uris;
use shardwamp::wamp::value::{Dict, Value};

#[derive(Clone)]
enum Where {
    Tcp(std::net::SocketAddr),
    Unix(PathBuf),
}

async fn open(at: &Where, transport: &Transport, serializer: Serializer) -> Session {
    let options = DialOptions::new(transport.clone(), serializer);
    let auth = Box::new(Anonymous::default());
    match at {
        Where::Tcp(addr) => {
            let s = dial::connect_tcp(*addr, None).await.expect("tcp connect");
            Session::join(s, &options, "realm1", auth).await
        }
        Where::Unix(path) => {
            let s = dial::connect_unix(path).await.expect("unix connect");
            Session::join(s, &options, "realm1", auth).await
        }
    }
    .expect("joins")
}

async fn exercise(at: Where, transport: Transport, serializer: Serializer, tag: &str) {
    let callee = open(&at, &transport, serializer).await;
    let caller = open(&at, &transport, Serializer::Json).await;
    assert_ne!(callee.id(), caller.id());
    assert_eq!(
        callee.welcome_details().get("authrole"),
        Some(&Value::from("anonymous"))
    );

    // register and answer invocations in a task of their own
    let echo = format!("com.dial.echo.{tag}");
    let reg = callee.register(&echo, Dict::new()).await.expect("register");
    let progressive = format!("com.dial.count.{tag}");
    let count = callee
        .register(&progressive, Dict::new())
        .await
        .expect("register");
    let slow = format!("com.dial.slow.{tag}");
    let slow_reg = callee.register(&slow, Dict::new()).await.expect("register");
    let server = {
        let callee = callee.clone();
        glommio::spawn_local(async move {
            while let Some(inv) = reg.next().await {
                callee
                    .yield_result(inv.request, inv.payload, false)
                    .unwrap();
            }
        })
        .detach()
    };
    let counter = {
        let callee = callee.clone();
        glommio::spawn_local(async move {
            while let Some(inv) = count.next().await {
                for i in 0..3u64 {
                    callee
                        .yield_result(inv.request, Payload::args(vec![Value::from(i)]), true)
                        .unwrap();
                }
                callee
                    .yield_result(inv.request, Payload::args(vec![Value::from("done")]), false)
                    .unwrap();
            }
        })
        .detach()
    };
    // the slow procedure never answers: its calls are canceled
    let slow_id = slow_reg.id;
    let _hold = slow_reg;

    let (args, kwargs) = caller
        .call(
            &echo,
            vec![Value::from("hi"), Value::from(2u64)],
            dict! { "k" => "v" },
        )
        .await
        .expect("call");
    assert_eq!(args, vec![Value::from("hi"), Value::from(2u64)]);
    assert_eq!(kwargs.get("k"), Some(&Value::from("v")));

    // progressive results
    let pending = caller
        .call_with(
            &progressive,
            dict! { "receive_progress" => true },
            Payload::Empty,
        )
        .unwrap();
    let mut steps = Vec::new();
    loop {
        match pending.next().await.expect("progress") {
            CallStep::Progress(_, p) => steps.push(p),
            CallStep::Done(_, p) => {
                assert_eq!(p, Payload::args(vec![Value::from("done")]));
                break;
            }
        }
    }
    assert_eq!(steps.len(), 3);

    // cancel
    let pending = caller
        .call_with(&slow, Dict::new(), Payload::Empty)
        .unwrap();
    caller.cancel(pending.request, Some("killnowait")).unwrap();
    let e = pending.result().await.unwrap_err();
    assert_eq!(e.uri, uris::ERROR_CANCELED);

    // errors are typed
    let e = caller
        .call("com.dial.nothing", vec![], Dict::new())
        .await
        .unwrap_err();
    assert_eq!(e.uri, uris::ERROR_NO_SUCH_PROCEDURE);

    // publish and subscribe
    let topic = format!("com.dial.topic.{tag}");
    let sub = callee
        .subscribe(&topic, Dict::new())
        .await
        .expect("subscribe");
    let publication = caller
        .publish(&topic, vec![Value::from(7u64)], Dict::new(), true)
        .await
        .expect("publish");
    assert!(publication.is_some());
    caller
        .publish(&topic, vec![Value::from(8u64)], Dict::new(), false)
        .await
        .expect("publish");
    for n in [7u64, 8] {
        let ev = sub.next().await.expect("event");
        assert_eq!(values_of(&ev.payload).0, vec![Value::from(n)], "{tag}");
    }
    callee.unsubscribe(sub.id).await.expect("unsubscribe");
    callee.unregister(slow_id).await.expect("unregister");
    let e = caller.call(&slow, vec![], Dict::new()).await.unwrap_err();
    assert_eq!(e.uri, uris::ERROR_NO_SUCH_PROCEDURE);

    // two tasks may wait for the end of a session
    let watcher = {
        let caller = caller.clone();
        glommio::spawn_local(async move { caller.closed().await })
    };
    let close = caller.leave().await;
    assert_eq!(watcher.await, close);
    assert_eq!(close.reason, uris::CLOSE_GOODBYE_AND_OUT);
    assert!(!close.by_router);
    assert!(caller.call(&echo, vec![], Dict::new()).await.is_err());
    callee.leave().await;
    drop((server, counter));
}

#[test]
fn dials_websocket_and_rawsocket_over_tcp_and_unix() {
    let dir = std::env::temp_dir().join(format!("shardwamp-dial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ws_path = dir.join("ws.sock");
    let rs_path = dir.join("rs.sock");
    let _ = std::fs::remove_file(&ws_path);
    let _ = std::fs::remove_file(&rs_path);
    let mut uws = listener(2, "uws", true, None);
    uws.endpoint = EndpointSpec::Unix(ws_path.clone());
    let mut urs = listener(3, "urs", false, None);
    urs.endpoint = EndpointSpec::Unix(rs_path.clone());
    let router = shard::start(RouterSpec {
        shards: 2,
        cpus: None,
        io_memory: 1 << 20,
        realms: vec![open_realm("realm1")],
        listeners: vec![
            listener(0, "ws", true, None),
            listener(1, "rs", false, None),
            uws,
            urs,
        ],
        seed: Some(7),
        realm_transports: Vec::new(),
        router_key: None,
    })
    .expect("router starts");
    let ws = router.tcp_addr("ws").unwrap();
    let rs = router.tcp_addr("rs").unwrap();
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let websocket = |host: &str| Transport::WebSocket {
                url: format!("ws://{host}/ws"),
            };
            exercise(
                Where::Tcp(ws),
                websocket(&ws.to_string()),
                Serializer::MsgPack,
                "tcp_ws",
            )
            .await;
            exercise(
                Where::Tcp(rs),
                Transport::RawSocket,
                Serializer::Cbor,
                "tcp_rs",
            )
            .await;
            exercise(
                Where::Unix(ws_path),
                websocket("localhost"),
                Serializer::Json,
                "unix_ws",
            )
            .await;
            exercise(
                Where::Unix(rs_path),
                Transport::RawSocket,
                Serializer::MsgPack,
                "unix_rs",
            )
            .await;
        })
        .expect("executor");
    ex.join().expect("the dial test ran");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_join_is_an_error() {
    let router = common::start(1);
    let ws = router.tcp_addr("ws").unwrap();
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .spawn(move || async move {
            let s = dial::connect_tcp(ws, None).await.unwrap();
            let options = DialOptions::new(
                Transport::WebSocket {
                    url: format!("ws://{ws}/ws"),
                },
                Serializer::Json,
            );
            let r =
                Session::join(s, &options, "no.such.realm", Box::new(Anonymous::default())).await;
            let e = r.err().expect("refused");
            assert!(e.0.contains(uris::ERROR_NO_SUCH_REALM), "{e}");
        })
        .expect("executor");
    ex.join().expect("ran");
}
