//! The broker across shards and serializers: SUBSCRIBED after every replica, exclusion and receiver lists, patterns, disclosure, retained events and history.

use super::*;

#[test]
fn events_cross_shards_and_serializers() {
    for shards in [1, 3] {
        let mut s = sim(shards);
        let (a, _) = s.join(shards - 1, MP, "realm1");
        let (b, _) = s.join(0, CBOR, "realm1");
        let (p, _) = s.join(shards / 2, JSON, "realm1");
        let sa = subscribe(&mut s, a, "com.t", Dict::new());
        let sb = subscribe(&mut s, b, "com.t", Dict::new());
        assert_eq!(sa, sb, "one subscription per topic");
        publish(
            &mut s,
            p,
            5,
            "com.t",
            dict! { "acknowledge" => true },
            vec![Value::Bytes(vec![1, 2, 3]), Value::from("x")],
        );
        for c in [a, b] {
            let ev = events(&s.take(c));
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].2, vec![Value::Bytes(vec![1, 2, 3]), Value::from("x")]);
        }
        assert!(matches!(
            s.take(p).as_slice(),
            [Message::Published { request: 5, .. }]
        ));
    }
}

/// SUBSCRIBED waits until every shard's replica knows the subscriber's shard,
/// however slowly the mesh delivers the update to the publisher's shard.
#[test]
fn subscribed_only_after_every_replica_knows() {
    let mut s = sim(3);
    let (sub, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(2, JSON, "realm1");
    s.send(
        sub,
        &Message::Subscribe {
            request: 1,
            options: Dict::new(),
            topic: "com.t".into(),
        },
    );
    assert!(s.step_from(1, 0), "SUBSCRIBE reaches the home shard");
    // the home shard's update reaches shard 1 but not yet shard 2
    while s.step_from(0, 1) {}
    assert!(
        s.take(sub).is_empty(),
        "no SUBSCRIBED while shard 2 has not applied the update"
    );
    while s.step_from(0, 2) {}
    while s.step_from(2, 0) || s.step_from(1, 0) {}
    while s.step_from(0, 1) {}
    assert!(matches!(
        s.take(sub).as_slice(),
        [Message::Subscribed { .. }]
    ));
    publish(&mut s, p, 1, "com.t", Dict::new(), vec![]);
    assert_eq!(events(&s.take(sub)).len(), 1);
}

#[test]
fn exclude_me_and_receiver_lists() {
    let mut s = sim(3);
    let (p, ps) = s.join(0, JSON, "realm1");
    let (a, sa) = s.join(1, JSON, "realm1");
    let (b, _) = s.join(2, JSON, "realm1");
    for c in [p, a, b] {
        subscribe(&mut s, c, "com.t", Dict::new());
    }
    publish(&mut s, p, 1, "com.t", Dict::new(), vec![]);
    assert_eq!(events(&s.take(p)).len(), 0, "exclude_me defaults to true");
    assert_eq!(events(&s.take(a)).len(), 1);
    s.take(b);
    publish(
        &mut s,
        p,
        2,
        "com.t",
        dict! { "exclude_me" => false, "exclude" => Value::List(vec![Value::UInt(sa)]) },
        vec![],
    );
    assert_eq!(events(&s.take(p)).len(), 1);
    assert_eq!(events(&s.take(a)).len(), 0);
    assert_eq!(events(&s.take(b)).len(), 1);
    publish(
        &mut s,
        p,
        3,
        "com.t",
        dict! { "exclude_me" => false, "eligible" => Value::List(vec![Value::UInt(sa), Value::UInt(ps)]) },
        vec![],
    );
    assert_eq!(events(&s.take(a)).len(), 1);
    assert_eq!(events(&s.take(b)).len(), 0);
    assert_eq!(events(&s.take(p)).len(), 1);
    publish(
        &mut s,
        p,
        4,
        "com.t",
        dict! { "eligible_authrole" => Value::List(vec!["nobody".into()]) },
        vec![],
    );
    assert_eq!(events(&s.take(a)).len() + events(&s.take(b)).len(), 0);
    publish(
        &mut s,
        p,
        5,
        "com.t",
        dict! { "acknowledge" => true, "eligible" => "not a list" },
        vec![],
    );
    assert_eq!(
        error_of(&s.take(p)).as_deref(),
        Some(uris::ERROR_INVALID_ARGUMENT)
    );
}

#[test]
fn pattern_subscriptions_carry_the_topic() {
    let mut s = sim(2);
    let (c, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(0, JSON, "realm1");
    let exact = subscribe(&mut s, c, "com.app.a.update", Dict::new());
    let prefix = subscribe(&mut s, c, "com.app", dict! { "match" => "prefix" });
    let wild = subscribe(&mut s, c, "com..a.update", dict! { "match" => "wildcard" });
    publish(&mut s, p, 1, "com.app.a.update", Dict::new(), vec![]);
    let mut ev = events(&s.take(c));
    ev.sort_by_key(|e| e.0);
    assert_eq!(ev.len(), 3);
    for (sub, details, _) in &ev {
        if *sub == exact {
            assert!(!details.contains_key("topic"));
        } else {
            assert!(*sub == prefix || *sub == wild);
            assert_eq!(details.get("topic"), Some(&Value::from("com.app.a.update")));
        }
    }
    publish(&mut s, p, 2, "com.app2", Dict::new(), vec![]);
    assert_eq!(
        events(&s.take(c)).iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![prefix]
    );
    s.send(
        c,
        &Message::Subscribe {
            request: 9,
            options: dict! { "match" => "fuzzy" },
            topic: "x".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_INVALID_ARGUMENT)
    );
    s.send(
        c,
        &Message::Subscribe {
            request: 9,
            options: Dict::new(),
            topic: "bad..uri".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_INVALID_URI)
    );
}

#[test]
fn unsubscribe_stops_events_and_resubscribe_is_idempotent() {
    let mut s = sim(2);
    let (c, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(0, JSON, "realm1");
    let id = subscribe(&mut s, c, "com.t", Dict::new());
    assert_eq!(subscribe(&mut s, c, "com.t", Dict::new()), id);
    s.send(
        c,
        &Message::Unsubscribe {
            request: 3,
            subscription: id,
        },
    );
    s.run();
    assert!(matches!(
        s.take(c).as_slice(),
        [Message::Unsubscribed { request: 3, .. }]
    ));
    publish(&mut s, p, 1, "com.t", Dict::new(), vec![]);
    assert!(s.take(c).is_empty());
    s.send(
        c,
        &Message::Unsubscribe {
            request: 4,
            subscription: id,
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(c)).as_deref(),
        Some(uris::ERROR_NO_SUCH_SUBSCRIPTION)
    );
}

#[test]
fn publisher_disclosure_and_not_authorized() {
    let mut s = Sim::new(2, 3);
    let mut cfg = open_realm("realm1");
    cfg.roles.push(role(
        "reader",
        vec![perm(
            "com.",
            Some(MatchPolicy::Prefix),
            Allow {
                subscribe: true,
                ..Allow::default()
            },
        )],
    ));
    s.start_realm(0, cfg);
    let auth: crate::config::auth::TransportAuth = serde_json::from_value(
        serde_json::json!({ "anonymous": { "type": "static", "role": "reader" } }),
    )
    .unwrap();
    s.set_transport(1, &auth);
    let r = s.connect_via(1, JSON, 1);
    s.hello(r, "realm1", Dict::new());
    let (p, ps) = s.join(0, JSON, "realm1");
    subscribe(&mut s, r, "com.t", Dict::new());
    publish(
        &mut s,
        p,
        1,
        "com.t",
        dict! { "disclose_me" => true },
        vec![],
    );
    let ev = events(&s.take(r));
    assert_eq!(ev[0].1.get("publisher"), Some(&Value::UInt(ps)));
    assert_eq!(
        ev[0].1.get("publisher_authrole"),
        Some(&Value::from("anonymous"))
    );
    publish(
        &mut s,
        r,
        2,
        "com.t",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert_eq!(
        error_of(&s.take(r)).as_deref(),
        Some(uris::ERROR_NOT_AUTHORIZED)
    );
    s.send(
        r,
        &Message::Subscribe {
            request: 3,
            options: Dict::new(),
            topic: "org.t".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(r)).as_deref(),
        Some(uris::ERROR_NOT_AUTHORIZED)
    );
    // roles change at run time
    for core in &mut s.cores {
        core.set_role(
            0,
            &role(
                "reader",
                vec![perm("", Some(MatchPolicy::Prefix), allow_all())],
            ),
        )
        .unwrap();
    }
    publish(
        &mut s,
        r,
        4,
        "com.t",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert!(matches!(s.take(r).as_slice(), [Message::Published { .. }]));
}

/// An acknowledged retained publication is acknowledged once the realm's
/// home shard has stored it: a subscriber the publisher then tells of it
/// (on any shard) gets it as the retained event, never the one before.
#[test]
fn published_waits_for_the_retained_store() {
    let mut s = sim(3);
    let (p, _) = s.join(1, JSON, "realm1");
    let (c, _) = s.join(2, MP, "realm1");
    for (request, value) in [(1, "first"), (2, "second")] {
        s.send(
            p,
            &Message::Publish {
                request,
                options: dict! { "retain" => true, "acknowledge" => true },
                topic: "com.ret".into(),
                payload: Payload::args(vec![Value::from(value)]),
            },
        );
        assert!(
            s.take(p).is_empty(),
            "PUBLISHED before the home shard stored it"
        );
        // the store reaches the home shard (0), its answer comes back
        assert!(s.step_from(1, 0));
        assert!(s.step_from(0, 1));
        assert!(matches!(
            s.take(p).as_slice(),
            [Message::Published { request: r, .. }] if *r == request
        ));
    }
    s.send(
        c,
        &Message::Subscribe {
            request: 1,
            options: dict! { "get_retained" => true },
            topic: "com.ret".into(),
        },
    );
    s.run();
    let ev = events(&s.take(c));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].2, vec![Value::from("second")]);
    // unacknowledged, or neither retained nor kept in history: as before
    publish(
        &mut s,
        p,
        3,
        "com.plain",
        dict! { "acknowledge" => true },
        vec![],
    );
    assert!(matches!(s.take(p).as_slice(), [Message::Published { .. }]));
}

#[test]
fn retained_events_and_history() {
    let mut s = Sim::new(3, 5);
    let mut cfg = open_realm("realm1");
    cfg.store = Some(StoreConfig {
        kind: "memory".into(),
        limit: None,
        event_history: vec![EventHistoryConfig {
            uri: "com.hist".into(),
            match_: None,
            limit: Some(2),
        }],
    });
    s.start_realm(0, cfg);
    let (p, _) = s.join(1, JSON, "realm1");
    publish(
        &mut s,
        p,
        1,
        "com.ret",
        dict! { "retain" => true },
        vec![Value::UInt(1)],
    );
    publish(
        &mut s,
        p,
        2,
        "com.ret",
        dict! { "retain" => true },
        vec![Value::UInt(2)],
    );
    let (c, _) = s.join(2, MP, "realm1");
    s.send(
        c,
        &Message::Subscribe {
            request: 1,
            options: dict! { "get_retained" => true },
            topic: "com.ret".into(),
        },
    );
    s.run();
    let got = s.take(c);
    assert!(
        matches!(got.first(), Some(Message::Subscribed { .. })),
        "{got:?}"
    );
    let ev = events(&got);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].2, vec![Value::UInt(2)]);
    assert_eq!(ev[0].1.get("retained"), Some(&Value::Bool(true)));

    let sub = subscribe(&mut s, c, "com.hist", Dict::new());
    for i in 0..3u64 {
        publish(
            &mut s,
            p,
            10 + i,
            "com.hist",
            Dict::new(),
            vec![Value::UInt(i)],
        );
    }
    s.take(c);
    call(
        &mut s,
        c,
        7,
        "wamp.subscription.get_events",
        Dict::new(),
        vec![Value::UInt(sub)],
    );
    match s.take(c).as_slice() {
        [Message::Result { payload, .. }] => {
            let a = args(payload);
            let list = a[0].as_list().unwrap();
            assert_eq!(list.len(), 2, "history keeps the limit");
            assert_eq!(
                list[0].as_dict().unwrap().get("args"),
                Some(&Value::List(vec![Value::UInt(2)]))
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A prefix `event-history` entry keeps one history for all the topics it
/// matches, bounded by its limit (the store's, here) however many topics
/// there are, as Crossbar.io's memory store does; a subscription's
/// `get_events` sees the events of the topics it matches.
#[test]
fn prefix_event_history_is_one_bounded_history() {
    let mut s = Sim::new(3, 6);
    let mut cfg = open_realm("realm1");
    cfg.store = Some(StoreConfig {
        kind: "memory".into(),
        limit: Some(3),
        event_history: vec![EventHistoryConfig {
            uri: "com.hist.".into(),
            match_: Some(crate::wamp::uri::MatchPolicy::Prefix),
            limit: None,
        }],
    });
    s.start_realm(0, cfg);
    let (p, _) = s.join(1, JSON, "realm1");
    let (c, _) = s.join(2, MP, "realm1");
    let all = subscribe(&mut s, c, "com.hist.", dict! { "match" => "prefix" });
    let one = subscribe(&mut s, c, "com.hist.t1", Dict::new());
    // Ten topics, one event each: the history keeps the last three.
    for i in 0..10u64 {
        publish(
            &mut s,
            p,
            20 + i,
            &format!("com.hist.t{i}"),
            Dict::new(),
            vec![Value::UInt(i)],
        );
    }
    s.take(c);
    let events_of = |s: &mut Sim, request: u64, sub: u64| {
        call(
            s,
            c,
            request,
            "wamp.subscription.get_events",
            Dict::new(),
            vec![Value::UInt(sub)],
        );
        match s.take(c).as_slice() {
            [Message::Result { payload, .. }] => args(payload)[0].as_list().unwrap().len(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        events_of(&mut s, 40, all),
        3,
        "one history, bounded by the store's limit"
    );
    // t1's event was pushed out by later topics' events.
    assert_eq!(events_of(&mut s, 41, one), 0);
}

/// `forward_for` (router links): kept from a session of role `rlink` into
/// EVENT and INVOCATION details, its first entry disclosed as the publisher
/// or caller; ignored from any other session; more than
/// `MAX_FORWARD_HOPS` entries refused.
#[test]
fn forward_for_only_from_links_and_bounded() {
    let mut s = Sim::new(2, 7);
    let mut realm = open_realm("realm1");
    realm.roles.push(role(
        crate::router::RLINK_ROLE,
        vec![perm("", Some(MatchPolicy::Prefix), allow_all())],
    ));
    s.start_realm(0, realm);
    s.set_transport(
        1,
        &crate::config::auth::TransportAuth::anonymous_only(crate::router::RLINK_ROLE),
    );
    let (sub, _) = s.join(1, JSON, "realm1");
    let (plain, _) = s.join(0, MP, "realm1");
    let (link, _) = s
        .join_with(
            0,
            CBOR,
            1,
            "realm1",
            Box::new(crate::client::auth::Anonymous::default()),
        )
        .expect("the link's session joins");
    subscribe(&mut s, sub, "com.t", Dict::new());
    let origin = Value::Dict(dict! { "session" => 5u64, "authid" => "far", "authrole" => "user" });
    let ff = |n: usize| Value::List(vec![origin.clone(); n]);
    publish(
        &mut s,
        link,
        1,
        "com.t",
        dict! { "forward_for" => ff(2), "disclose_me" => true },
        vec![],
    );
    let ev = events(&s.take(sub));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].1.get("forward_for"), Some(&ff(2)));
    assert_eq!(ev[0].1.get("publisher"), Some(&Value::UInt(5)));
    assert_eq!(ev[0].1.get("publisher_authid"), Some(&Value::from("far")));
    // Not a link: ignored.
    publish(
        &mut s,
        plain,
        2,
        "com.t",
        dict! { "forward_for" => ff(1) },
        vec![],
    );
    let ev = events(&s.take(sub));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].1.get("forward_for"), None);
    // Too long: refused.
    publish(
        &mut s,
        link,
        3,
        "com.t",
        dict! { "forward_for" => ff(crate::router::options::MAX_FORWARD_HOPS + 1), "acknowledge" => true },
        vec![],
    );
    assert_eq!(
        error_of(&s.take(link)).as_deref(),
        Some(uris::ERROR_INVALID_ARGUMENT)
    );
    assert!(events(&s.take(sub)).is_empty());
    // Calls: the callee sees the path and the original caller.
    register(&mut s, sub, "com.p", Dict::new());
    call(
        &mut s,
        link,
        4,
        "com.p",
        dict! { "forward_for" => ff(1), "disclose_me" => true },
        vec![],
    );
    let (_, _, details, _) = invocation(&s.take(sub));
    assert_eq!(details.get("forward_for"), Some(&ff(1)));
    assert_eq!(details.get("caller"), Some(&Value::UInt(5)));
}
