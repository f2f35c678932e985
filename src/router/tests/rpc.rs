//! The dealer across shards: caller disclosure, invocation policies, pattern registrations, progressive results, cancel, timeouts, callers and callees leaving, UNREGISTERED after every replica.

use super::*;

#[test]
fn calls_cross_shards_with_caller_disclosure() {
    for shards in [1, 3] {
        let mut s = sim(shards);
        let (callee, _) = s.join(shards - 1, CBOR, "realm1");
        let (caller, cs) = s.join(0, JSON, "realm1");
        let reg = register(&mut s, callee, "com.add", Dict::new());
        call(
            &mut s,
            caller,
            11,
            "com.add",
            dict! { "disclose_me" => true },
            vec![Value::UInt(2), Value::UInt(3)],
        );
        let (req, r, details, a) = invocation(&s.take(callee));
        assert_eq!(r, reg);
        assert_eq!(a, vec![Value::UInt(2), Value::UInt(3)]);
        assert_eq!(details.get("caller"), Some(&Value::UInt(cs)));
        s.send(
            callee,
            &Message::Yield {
                request: req,
                options: Dict::new(),
                payload: Payload::args(vec![Value::UInt(5)]),
            },
        );
        s.run();
        match s.take(caller).as_slice() {
            [Message::Result {
                request: 11,
                payload,
                ..
            }] => assert_eq!(args(payload), vec![Value::UInt(5)]),
            other => panic!("{other:?}"),
        }
        // an application error travels back as is
        call(&mut s, caller, 12, "com.add", Dict::new(), vec![]);
        let (req, ..) = invocation(&s.take(callee));
        s.send(
            callee,
            &Message::Error {
                request_type: MessageType::Invocation,
                request: req,
                details: Dict::new(),
                error: "com.error.oops".into(),
                payload: Payload::args(vec!["bad".into()]),
            },
        );
        s.run();
        assert_eq!(error_of(&s.take(caller)).as_deref(), Some("com.error.oops"));
        call(&mut s, caller, 13, "com.nothing", Dict::new(), vec![]);
        assert_eq!(
            error_of(&s.take(caller)).as_deref(),
            Some(uris::ERROR_NO_SUCH_PROCEDURE)
        );
    }
}

#[test]
fn invocation_policies() {
    let mut s = sim(3);
    let (a, _) = s.join(1, JSON, "realm1");
    let (b, _) = s.join(2, JSON, "realm1");
    let (c, _) = s.join(0, JSON, "realm1");
    register(&mut s, a, "com.single", Dict::new());
    s.send(
        b,
        &Message::Register {
            request: 2,
            options: Dict::new(),
            procedure: "com.single".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(b)).as_deref(),
        Some(uris::ERROR_PROCEDURE_ALREADY_EXISTS)
    );
    register(&mut s, a, "com.rr", dict! { "invoke" => "roundrobin" });
    s.send(
        b,
        &Message::Register {
            request: 3,
            options: dict! { "invoke" => "random" },
            procedure: "com.rr".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(b)).as_deref(),
        Some(uris::ERROR_PROCEDURE_EXISTS_WITH_DIFFERENT_INVOCATION_POLICY)
    );
    register(&mut s, b, "com.rr", dict! { "invoke" => "roundrobin" });
    let mut hits = [0, 0];
    for i in 0..4 {
        call(&mut s, c, 100 + i, "com.rr", Dict::new(), vec![]);
        hits[0] += s.take(a).len();
        hits[1] += s.take(b).len();
    }
    assert_eq!(hits, [2, 2], "roundrobin alternates");
    register(&mut s, a, "com.first", dict! { "invoke" => "first" });
    register(&mut s, b, "com.first", dict! { "invoke" => "first" });
    call(&mut s, c, 200, "com.first", Dict::new(), vec![]);
    assert_eq!((s.take(a).len(), s.take(b).len()), (1, 0));
    register(&mut s, a, "com.last", dict! { "invoke" => "last" });
    register(&mut s, b, "com.last", dict! { "invoke" => "last" });
    call(&mut s, c, 201, "com.last", Dict::new(), vec![]);
    assert_eq!((s.take(a).len(), s.take(b).len()), (0, 1));
    s.send(
        a,
        &Message::Register {
            request: 4,
            options: dict! { "invoke" => "sometimes" },
            procedure: "com.x".into(),
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(a)).as_deref(),
        Some(uris::ERROR_INVALID_ARGUMENT)
    );
}

#[test]
fn pattern_registrations_most_specific_wins() {
    let mut s = sim(2);
    let (e, _) = s.join(1, JSON, "realm1");
    let (p, _) = s.join(1, JSON, "realm1");
    let (w, _) = s.join(0, JSON, "realm1");
    let (c, _) = s.join(0, JSON, "realm1");
    register(&mut s, e, "com.app.do.it", Dict::new());
    register(&mut s, p, "com.app", dict! { "match" => "prefix" });
    register(&mut s, w, "com..do.it", dict! { "match" => "wildcard" });
    call(&mut s, c, 1, "com.app.do.it", Dict::new(), vec![]);
    assert_eq!(s.take(e).len(), 1, "exact beats prefix and wildcard");
    call(&mut s, c, 2, "com.app.other", Dict::new(), vec![]);
    let (_, _, details, _) = invocation(&s.take(p));
    assert_eq!(
        details.get("procedure"),
        Some(&Value::from("com.app.other"))
    );
    call(&mut s, c, 3, "com.xyz.do.it", Dict::new(), vec![]);
    let (_, _, details, _) = invocation(&s.take(w));
    assert_eq!(
        details.get("procedure"),
        Some(&Value::from("com.xyz.do.it"))
    );
}

#[test]
fn progressive_results_and_invocations() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, MP, "realm1");
    register(&mut s, callee, "com.stream", Dict::new());
    call(
        &mut s,
        caller,
        1,
        "com.stream",
        dict! { "receive_progress" => true, "progress" => true },
        vec![Value::UInt(0)],
    );
    let (req, _, details, _) = invocation(&s.take(callee));
    assert_eq!(details.get("receive_progress"), Some(&Value::Bool(true)));
    assert_eq!(details.get("progress"), Some(&Value::Bool(true)));
    call(
        &mut s,
        caller,
        1,
        "com.stream",
        dict! { "progress" => true },
        vec![Value::UInt(1)],
    );
    call(
        &mut s,
        caller,
        1,
        "com.stream",
        Dict::new(),
        vec![Value::UInt(2)],
    );
    let more = s.take(callee);
    assert_eq!(more.len(), 2);
    let (req2, _, d2, a2) = invocation(&more[..1]);
    assert_eq!((req2, a2), (req, vec![Value::UInt(1)]));
    assert_eq!(d2.get("progress"), Some(&Value::Bool(true)));
    let (_, _, d3, _) = invocation(&more[1..]);
    assert!(!d3.contains_key("progress"));
    for i in 0..3u64 {
        s.send(
            callee,
            &Message::Yield {
                request: req,
                options: dict! { "progress" => true },
                payload: Payload::args(vec![Value::UInt(i)]),
            },
        );
    }
    s.send(
        callee,
        &Message::Yield {
            request: req,
            options: Dict::new(),
            payload: Payload::args(vec![Value::UInt(99)]),
        },
    );
    s.run();
    let got = s.take(caller);
    let seen: Vec<(bool, Vec<Value>)> = got
        .iter()
        .map(|m| match m {
            Message::Result {
                details, payload, ..
            } => (
                details.get("progress") == Some(&Value::Bool(true)),
                args(payload),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (true, vec![Value::UInt(0)]),
            (true, vec![Value::UInt(1)]),
            (true, vec![Value::UInt(2)]),
            (false, vec![Value::UInt(99)])
        ]
    );
}

#[test]
fn cancel_modes() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    // skip: ERROR now, no INTERRUPT, late YIELD dropped
    call(&mut s, caller, 1, "com.slow", Dict::new(), vec![]);
    let (req, ..) = invocation(&s.take(callee));
    s.send(
        caller,
        &Message::Cancel {
            request: 1,
            options: dict! { "mode" => "skip" },
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    assert!(s.take(callee).is_empty());
    s.send(
        callee,
        &Message::Yield {
            request: req,
            options: Dict::new(),
            payload: Payload::Empty,
        },
    );
    s.run();
    assert!(s.take(caller).is_empty());
    // killnowait: ERROR now and INTERRUPT
    call(&mut s, caller, 2, "com.slow", Dict::new(), vec![]);
    let (req, ..) = invocation(&s.take(callee));
    s.send(
        caller,
        &Message::Cancel {
            request: 2,
            options: dict! { "mode" => "killnowait" },
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    assert!(
        matches!(s.take(callee).as_slice(), [Message::Interrupt { request, .. }] if *request == req)
    );
    // kill: INTERRUPT, then the callee's answer reaches the caller
    call(&mut s, caller, 3, "com.slow", Dict::new(), vec![]);
    let (req, ..) = invocation(&s.take(callee));
    s.send(
        caller,
        &Message::Cancel {
            request: 3,
            options: dict! { "mode" => "kill" },
        },
    );
    s.run();
    assert!(s.take(caller).is_empty());
    assert!(matches!(
        s.take(callee).as_slice(),
        [Message::Interrupt { .. }]
    ));
    s.send(
        callee,
        &Message::Error {
            request_type: MessageType::Invocation,
            request: req,
            details: Dict::new(),
            error: uris::ERROR_CANCELED.into(),
            payload: Payload::Empty,
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
}

#[test]
fn kill_on_a_callee_without_call_canceling_is_skip() {
    let mut s = sim(2);
    let callee = s.connect(1, JSON);
    s.hello(
        callee,
        "realm1",
        dict! { "roles" => Value::Dict(dict! { "callee" => Value::Dict(Dict::new()) }) },
    );
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(&mut s, caller, 1, "com.slow", Dict::new(), vec![]);
    s.take(callee);
    s.send(
        caller,
        &Message::Cancel {
            request: 1,
            options: dict! { "mode" => "kill" },
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    assert!(
        s.take(callee).is_empty(),
        "no INTERRUPT to a callee that did not announce call_canceling"
    );
}

#[test]
fn timeouts_are_milliseconds_and_answer_timeout() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(
        &mut s,
        caller,
        1,
        "com.slow",
        dict! { "timeout" => 250u64 },
        vec![],
    );
    s.take(callee);
    s.advance(200);
    s.run();
    assert!(s.take(caller).is_empty());
    s.advance(60);
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_TIMEOUT)
    );
    assert!(
        matches!(s.take(callee).as_slice(), [Message::Interrupt { options, .. }] if options.get("mode") == Some(&Value::from("killnowait")))
    );
}

#[test]
fn callee_or_caller_leaving_mid_call() {
    let mut s = sim(2);
    let (callee, _) = s.join(1, JSON, "realm1");
    let (caller, _) = s.join(0, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(&mut s, caller, 1, "com.slow", Dict::new(), vec![]);
    s.take(callee);
    s.disconnect(callee);
    s.run();
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_CANCELED)
    );
    call(&mut s, caller, 2, "com.slow", Dict::new(), vec![]);
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_NO_SUCH_PROCEDURE),
        "the registration went with its callee"
    );

    let (callee, _) = s.join(1, JSON, "realm1");
    register(&mut s, callee, "com.slow", Dict::new());
    call(&mut s, caller, 3, "com.slow", Dict::new(), vec![]);
    s.take(callee);
    s.disconnect(caller);
    s.run();
    assert!(
        matches!(s.take(callee).as_slice(), [Message::Interrupt { .. }]),
        "the callee is told the caller left"
    );
}

#[test]
fn unregister_waits_for_every_replica() {
    let mut s = sim(3);
    let (callee, _) = s.join(2, JSON, "realm1");
    let (caller, _) = s.join(1, JSON, "realm1");
    let reg = register(&mut s, callee, "com.p", Dict::new());
    s.send(
        callee,
        &Message::Unregister {
            request: 5,
            registration: reg,
        },
    );
    s.run();
    assert!(matches!(
        s.take(callee).as_slice(),
        [Message::Unregistered { request: 5, .. }]
    ));
    call(&mut s, caller, 1, "com.p", Dict::new(), vec![]);
    assert_eq!(
        error_of(&s.take(caller)).as_deref(),
        Some(uris::ERROR_NO_SUCH_PROCEDURE)
    );
    s.send(
        callee,
        &Message::Unregister {
            request: 6,
            registration: reg,
        },
    );
    s.run();
    assert_eq!(
        error_of(&s.take(callee)).as_deref(),
        Some(uris::ERROR_NO_SUCH_REGISTRATION)
    );
}
