//! The shard as a component's host ([`crate::component::ComponentHost`]): a
//! component's connection is an ordinary connection of the shard's router
//! core; its messages go to the core directly, the core's frames come back
//! through the connection's outbox.

use std::rc::Rc;

use bytes::Bytes;

use super::Shard;
use crate::codec::Serializer;
use crate::component::{ComponentHost, ComponentInbox};
use crate::router::{ConnId, TransportDetails, TransportId};
use crate::transport::outbox::{Batch, Outbox};
use crate::transport::QueueLimits;
use crate::wamp::message::Message;
use crate::wamp::value::Dict;

/// A component connection's outbox, read as batches of frames.
pub struct OutboxInbox(Rc<Outbox>);

impl ComponentInbox for OutboxInbox {
    async fn next_frames(&mut self) -> Option<Vec<Bytes>> {
        match self.0.next_batch().await {
            Batch::Write => Some(std::iter::from_fn(|| self.0.pop()).collect()),
            _ => None,
        }
    }
}

impl ComponentHost for Shard {
    type Inbox = OutboxInbox;

    fn open(
        &self,
        serializer: Serializer,
        transport: TransportId,
        details: Dict,
    ) -> (ConnId, OutboxInbox) {
        let (conn, outbox) = Shard::open(
            self,
            serializer,
            transport,
            TransportDetails::from_dict(details, serializer),
            None,
            QueueLimits::default(),
        );
        (conn, OutboxInbox(outbox))
    }

    fn deliver(&self, conn: ConnId, msg: Message) {
        self.core_now().receive(conn, msg);
        self.pump();
    }

    fn closed(&self, conn: ConnId) {
        Shard::closed(self, conn);
    }
}
