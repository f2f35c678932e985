//! Built-in components.
//!
//! - `shardwamp.health`: registers a procedure (`extra.procedure`, default
//!   `shardwamp.health`) answering `{"status": "ok", "session": id, "uptime_ms": n}`.
//! - `shardwamp.stats`: publishes the realm's statistics (the meta API's
//!   session count and subscription/registration lists) to a topic
//!   (`extra.topic`, default `shardwamp.stats`) every `extra.interval_ms`
//!   (default 1000) milliseconds.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Component, Handler, Registry, Session};
use crate::dict;
use crate::wamp::message::Payload;
use crate::wamp::value::{Dict, Value};

/// Registers the built-ins.
pub fn register(r: &mut Registry) {
    r.add("shardwamp.health", |c| {
        let procedure = c
            .extra
            .get("procedure")
            .and_then(|v| v.as_str())
            .unwrap_or("shardwamp.health")
            .to_owned();
        Ok(Box::new(Health { procedure }))
    });
    r.add("shardwamp.stats", |c| {
        let topic = c
            .extra
            .get("topic")
            .and_then(|v| v.as_str())
            .unwrap_or("shardwamp.stats")
            .to_owned();
        let interval = c
            .extra
            .get("interval_ms")
            .and_then(|v| v.as_integer())
            .unwrap_or(1000);
        if interval <= 0 {
            return Err(format!(
                "component '{}': interval_ms must be positive",
                c.id
            ));
        }
        Ok(Box::new(Stats {
            topic,
            interval: Duration::from_millis(interval as u64),
        }))
    });
}

/// Answers a health procedure.
pub struct Health {
    procedure: String,
}

impl Component for Health {
    fn run(self: Box<Self>, session: Session) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            let started = Instant::now();
            let id = session.id();
            let handler: Handler = Rc::new(move |_, _, _| {
                let uptime = started.elapsed().as_millis() as u64;
                Box::pin(async move {
                    Ok(Payload::args(vec![Value::Dict(
                        dict! { "status" => "ok", "session" => id, "uptime_ms" => uptime },
                    )]))
                })
            });
            if let Err(e) = session.register(&self.procedure, handler).await {
                log::warn!(
                    "health component: cannot register '{}': {}",
                    self.procedure,
                    e.error
                );
                return;
            }
            session.closed().await;
        })
    }
}

/// Publishes realm statistics at an interval.
pub struct Stats {
    topic: String,
    interval: Duration,
}

impl Component for Stats {
    fn run(self: Box<Self>, session: Session) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async move {
            while !session.is_closed() {
                glommio::timer::sleep(self.interval).await;
                let count = session
                    .call("wamp.session.count", vec![], Dict::new())
                    .await;
                let subs = session
                    .call("wamp.subscription.list", vec![], Dict::new())
                    .await;
                let regs = session
                    .call("wamp.registration.list", vec![], Dict::new())
                    .await;
                let (Ok(count), Ok(subs), Ok(regs)) = (count, subs, regs) else {
                    continue;
                };
                let n = |v: &Value| {
                    v.as_dict().map_or(0, |d| {
                        d.values()
                            .map(|l| l.as_list().map_or(0, <[Value]>::len))
                            .sum::<usize>()
                    })
                };
                let stats = dict! {
                    "sessions" => count.0.first().cloned().unwrap_or(Value::UInt(0)),
                    "subscriptions" => n(subs.0.first().unwrap_or(&Value::Null)) as u64,
                    "registrations" => n(regs.0.first().unwrap_or(&Value::Null)) as u64,
                };
                session.publish(&self.topic, vec![Value::Dict(stats)], Dict::new());
            }
        })
    }
}
