//! The meta API across shards: sessions, kill, subscriptions and registrations, testaments.

use super::*;

fn result_args(msgs: &[Message]) -> Vec<Value> {
    match msgs {
        [Message::Result { payload, .. }] => args(payload),
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn session_meta_api_across_shards() {
    let mut s = sim(3);
    let (watch, _) = s.join(2, JSON, "realm1");
    subscribe(&mut s, watch, "wamp.session.on_join", Dict::new());
    subscribe(&mut s, watch, "wamp.session.on_leave", Dict::new());
    let (a, sa) = s.join(1, MP, "realm1");
    let (_b, sb) = s.join(0, CBOR, "realm1");
    let joins = events(&s.take(watch));
    assert_eq!(joins.len(), 2);
    assert_eq!(
        joins[0].2[0].as_dict().and_then(|d| d.get("session")),
        Some(&Value::UInt(sa))
    );
    call(&mut s, a, 1, "wamp.session.count", Dict::new(), vec![]);
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(3)]);
    call(&mut s, a, 2, "wamp.session.list", Dict::new(), vec![]);
    let list = result_args(&s.take(a));
    assert_eq!(list[0].as_list().map(<[Value]>::len), Some(3));
    call(
        &mut s,
        a,
        3,
        "wamp.session.get",
        Dict::new(),
        vec![Value::UInt(sb)],
    );
    let got = result_args(&s.take(a));
    assert_eq!(
        got[0].as_dict().and_then(|d| d.get("authrole")),
        Some(&Value::from("anonymous"))
    );
    call(
        &mut s,
        a,
        4,
        "wamp.session.get",
        Dict::new(),
        vec![Value::UInt(12345)],
    );
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_NO_SUCH_SESSION)
    );
    s.send(
        a,
        &Message::Call {
            request: 5,
            options: Dict::new(),
            procedure: "wamp.session.kill".into(),
            payload: Payload::Values {
                args: vec![Value::UInt(sb)],
                kwargs: Some(dict! { "reason" => "com.reason.bye", "message" => "go" }),
            },
        },
    );
    s.run();
    assert_eq!(result_args(&s.take(a)), Vec::<Value>::new());
    match s.take(_b).as_slice() {
        [Message::Goodbye { reason, details }] => {
            assert_eq!(reason, "com.reason.bye");
            assert_eq!(details.get("message"), Some(&Value::from("go")));
        }
        other => panic!("{other:?}"),
    }
    let leaves = events(&s.take(watch));
    assert_eq!(leaves.last().map(|e| e.2[0].clone()), Some(Value::UInt(sb)));
    call(&mut s, a, 6, "wamp.session.count", Dict::new(), vec![]);
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(2)]);
    call(&mut s, a, 7, "wamp.session.nope", Dict::new(), vec![]);
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_NO_SUCH_PROCEDURE)
    );
}

#[test]
fn kill_by_authid_reaches_every_shard() {
    let mut s = sim(3);
    let clients: Vec<usize> = (0..6)
        .map(|i| s.join((i % 3) as u16, JSON, "realm1").0)
        .collect();
    // every anonymous session has its own authid: find them through the meta API
    let (k, _) = s.join(1, JSON, "realm1");
    // find the target's authid through the meta API
    call(&mut s, k, 2, "wamp.session.list", Dict::new(), vec![]);
    let ids = result_args(&s.take(k))[0].as_list().unwrap().to_vec();
    let mut authids = Vec::new();
    for id in ids {
        call(&mut s, k, 3, "wamp.session.get", Dict::new(), vec![id]);
        let d = result_args(&s.take(k));
        authids.push(
            d[0].as_dict()
                .and_then(|d| d.get("authid"))
                .and_then(Value::as_str)
                .unwrap()
                .to_owned(),
        );
    }
    let victim = authids[0].clone();
    s.send(
        k,
        &Message::Call {
            request: 4,
            options: Dict::new(),
            procedure: "wamp.session.kill_by_authid".into(),
            payload: Payload::Values {
                args: vec![victim.as_str().into()],
                kwargs: None,
            },
        },
    );
    s.run();
    let killed = result_args(&s.take(k));
    assert_eq!(killed[0].as_list().map(<[Value]>::len), Some(1));
    // The victim got GOODBYE; its connection closes once it answers, or
    // when the router's wait for that answer ends.
    let told = |s: &crate::sim::Sim| {
        clients
            .iter()
            .filter(|c| {
                s.clients[**c]
                    .inbox
                    .iter()
                    .any(|m| matches!(m, Message::Goodbye { .. }))
            })
            .count()
    };
    assert_eq!(told(&s), 1);
    let closed = |s: &crate::sim::Sim| clients.iter().filter(|c| s.clients[**c].closed).count();
    assert_eq!(closed(&s), 0);
    s.advance(crate::router::GOODBYE_REPLY_WAIT_MS);
    s.run();
    assert_eq!(closed(&s), 1);
    // and the Rust-side kill on a shard
    let realm = s.cores[0].realm_id("realm1").unwrap();
    let mut n = 0;
    for shard in 0..3 {
        n += s.on_core(shard, |core| {
            core.kill_local_by(
                realm,
                None,
                Some("anonymous"),
                uris::CLOSE_KILLED,
                Some("maintenance".into()),
            )
            .len()
        });
    }
    assert_eq!(n, 6, "every remaining session");
}

#[test]
fn subscription_and_registration_meta_api() {
    let mut s = sim(3);
    let (watch, _) = s.join(0, JSON, "realm1");
    subscribe(&mut s, watch, "wamp.subscription.on_create", Dict::new());
    subscribe(&mut s, watch, "wamp.registration.on_register", Dict::new());
    let (a, sa) = s.join(1, JSON, "realm1");
    let (b, sb) = s.join(2, JSON, "realm1");
    let sub = subscribe(&mut s, a, "com.t", dict! { "match" => "prefix" });
    subscribe(&mut s, b, "com.t", dict! { "match" => "prefix" });
    let reg = register(&mut s, b, "com.p", Dict::new());
    let ev = events(&s.take(watch));
    assert_eq!(
        ev.len(),
        3,
        "two on_create (the watcher's own second subscription, com.t), one on_register: {ev:?}"
    );
    call(
        &mut s,
        a,
        1,
        "wamp.subscription.lookup",
        Dict::new(),
        vec!["com.t".into(), Value::Dict(dict! { "match" => "prefix" })],
    );
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(sub)]);
    call(
        &mut s,
        a,
        2,
        "wamp.subscription.list_subscribers",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    let mut expect = vec![sa, sb];
    expect.sort_unstable();
    assert_eq!(
        result_args(&s.take(a)),
        vec![Value::List(expect.into_iter().map(Value::UInt).collect())]
    );
    call(
        &mut s,
        a,
        3,
        "wamp.subscription.count_subscribers",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(2)]);
    call(
        &mut s,
        a,
        4,
        "wamp.subscription.match",
        Dict::new(),
        vec!["com.t.x".into()],
    );
    assert_eq!(result_args(&s.take(a)).len(), 1);
    call(
        &mut s,
        a,
        5,
        "wamp.subscription.get",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    assert_eq!(
        result_args(&s.take(a))[0]
            .as_dict()
            .and_then(|d| d.get("match")),
        Some(&Value::from("prefix"))
    );
    call(
        &mut s,
        a,
        6,
        "wamp.registration.list_callees",
        Dict::new(),
        vec![Value::UInt(reg)],
    );
    assert_eq!(
        result_args(&s.take(a)),
        vec![Value::List(vec![Value::UInt(sb)])]
    );
    call(
        &mut s,
        a,
        7,
        "wamp.registration.match",
        Dict::new(),
        vec!["com.p".into()],
    );
    assert_eq!(result_args(&s.take(a)), vec![Value::UInt(reg)]);
    call(&mut s, a, 8, "wamp.registration.list", Dict::new(), vec![]);
    let l = result_args(&s.take(a));
    assert_eq!(
        l[0].as_dict().and_then(|d| d.get("exact")),
        Some(&Value::List(vec![Value::UInt(reg)]))
    );
    s.disconnect(b);
    s.run();
    call(
        &mut s,
        a,
        9,
        "wamp.registration.get",
        Dict::new(),
        vec![Value::UInt(reg)],
    );
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_NO_SUCH_REGISTRATION)
    );
}

#[test]
fn testament_is_published_when_the_session_goes() {
    let mut s = sim(2);
    let (w, _) = s.join(0, JSON, "realm1");
    subscribe(&mut s, w, "com.gone", Dict::new());
    let (t, _) = s.join(1, MP, "realm1");
    call(
        &mut s,
        t,
        1,
        "wamp.session.add_testament",
        Dict::new(),
        vec![
            "com.gone".into(),
            Value::List(vec!["bye".into()]),
            Value::Dict(Dict::new()),
        ],
    );
    assert_eq!(result_args(&s.take(t)), Vec::<Value>::new());
    s.disconnect(t);
    s.run();
    let ev = events(&s.take(w));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].2, vec![Value::from("bye")]);
    // flushed testaments are not published
    let (t, _) = s.join(1, JSON, "realm1");
    call(
        &mut s,
        t,
        1,
        "wamp.session.add_testament",
        Dict::new(),
        vec![
            "com.gone".into(),
            Value::List(vec![]),
            Value::Dict(Dict::new()),
        ],
    );
    call(
        &mut s,
        t,
        2,
        "wamp.session.flush_testaments",
        Dict::new(),
        vec![],
    );
    s.take(t);
    s.disconnect(t);
    s.run();
    assert!(events(&s.take(w)).is_empty());
}
