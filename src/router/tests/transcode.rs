//! Payloads that cannot be transcoded: the nesting limit for every serializer, NaN/infinity into JSON for publications, calls and results.

use super::*;

/// A list nesting `depth` lists deep (the outer one included).
fn nested(depth: usize) -> Value {
    let mut v = Value::List(vec![]);
    for _ in 1..depth {
        v = Value::List(vec![v]);
    }
    v
}

/// One nesting limit for every serializer: a PUBLISH whose arguments nest 65
/// deep (or 100,000 deep, sent raw) is refused at the door with ABORT
/// protocol_violation; 64 deep reaches subscribers of every serializer.
#[test]
fn payload_nesting_limit_holds_for_every_serializer() {
    for from in [JSON, MP, CBOR] {
        let mut s = sim(2);
        let subs: Vec<usize> = [JSON, MP, CBOR]
            .into_iter()
            .enumerate()
            .map(|(i, ser)| s.join((i % 2) as u16, ser, "realm1").0)
            .collect();
        for &c in &subs {
            subscribe(&mut s, c, "com.deep", Dict::new());
        }
        let (p, _) = s.join(1, from, "realm1");
        // 64 deep: the args list holds a list nesting 63 deep.
        let ok = match nested(crate::codec::MAX_DEPTH) {
            Value::List(l) => l,
            _ => unreachable!(),
        };
        publish(
            &mut s,
            p,
            1,
            "com.deep",
            dict! { "acknowledge" => true },
            ok.clone(),
        );
        assert!(
            matches!(s.take(p).as_slice(), [Message::Published { .. }]),
            "{from}"
        );
        for &c in &subs {
            let ev = events(&s.take(c));
            assert_eq!(ev.len(), 1, "{from} -> {}", s.clients[c].serializer);
            assert_eq!(ev[0].2, ok);
        }
        // 65 deep: refused; the publisher's session is aborted, nobody gets it.
        let too_deep = match nested(crate::codec::MAX_DEPTH + 1) {
            Value::List(l) => l,
            _ => unreachable!(),
        };
        let mut frame = Vec::new();
        from.encode_into(
            &Message::Publish {
                request: 2,
                options: dict! { "acknowledge" => true },
                topic: "com.deep".into(),
                payload: Payload::args(too_deep),
            },
            &mut frame,
        )
        .unwrap();
        s.send_raw(p, &frame);
        s.run();
        assert_eq!(
            abort_reason(&s.take(p)).as_deref(),
            Some(uris::ERROR_PROTOCOL_VIOLATION),
            "{from}"
        );
        for &c in &subs {
            assert!(events(&s.take(c)).is_empty());
        }
        // 100,000 deep, hand-made: refused quickly, no stack overflow.
        let (p2, _) = s.join(0, from, "realm1");
        let n = 100_000;
        let frame: Vec<u8> = match from {
            Serializer::Json => format!(
                r#"[16,3,{{}},"com.deep",{}{}]"#,
                "[".repeat(n),
                "]".repeat(n)
            )
            .into_bytes(),
            Serializer::MsgPack => {
                let mut f = vec![0x95, 0x10, 0x03, 0x80, 0xa8];
                f.extend_from_slice(b"com.deep");
                f.extend(std::iter::repeat_n(0x91, n - 1));
                f.push(0x90);
                f
            }
            Serializer::Cbor => {
                let mut f = vec![0x85, 0x10, 0x03, 0xa0, 0x68];
                f.extend_from_slice(b"com.deep");
                f.extend(std::iter::repeat_n(0x9f, n));
                f.extend(std::iter::repeat_n(0xff, n));
                f
            }
        };
        let t = std::time::Instant::now();
        s.send_raw(p2, &frame);
        s.run();
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "{from}");
        assert_eq!(
            abort_reason(&s.take(p2)).as_deref(),
            Some(uris::ERROR_PROTOCOL_VIOLATION),
            "{from}"
        );
        for &c in &subs {
            assert!(events(&s.take(c)).is_empty());
        }
    }
}

fn transcode_failures(s: &mut Sim) -> u64 {
    (0..s.cores.len())
        .map(|i| s.cores[i].stats().transcode_failures)
        .sum()
}

/// A NaN has no JSON form. An acknowledged publication holding one is refused
/// with ERROR before any subscriber gets it (even one that could take it); an
/// unacknowledged one reaches the subscribers that can take it and the others
/// are counted, never silently skipped.
#[test]
fn untranscodable_publication_is_an_error_or_counted() {
    for from in [MP, CBOR] {
        for shards in [1, 3] {
            let mut s = sim(shards);
            let (j, _) = s.join(0, JSON, "realm1");
            let (m, _) = s.join(shards - 1, MP, "realm1");
            let (c, _) = s.join(shards / 2, CBOR, "realm1");
            for x in [j, m, c] {
                subscribe(&mut s, x, "com.nan", Dict::new());
            }
            let (p, _) = s.join(shards - 1, from, "realm1");
            let nan = vec![Value::from("x"), Value::Float(f64::NAN)];
            publish(
                &mut s,
                p,
                7,
                "com.nan",
                dict! { "acknowledge" => true },
                nan.clone(),
            );
            let got = s.take(p);
            assert_eq!(
                error_of(&got).as_deref(),
                Some(uris::ERROR_INVALID_ARGUMENT),
                "{got:?}"
            );
            match got.as_slice() {
                [Message::Error {
                    request_type: MessageType::Publish,
                    request: 7,
                    payload,
                    ..
                }] => {
                    let text = format!("{:?}", args(payload));
                    assert!(text.contains("json"), "{text}");
                }
                other => panic!("{other:?}"),
            }
            for x in [j, m, c] {
                assert!(
                    events(&s.take(x)).is_empty(),
                    "nobody gets a refused publication"
                );
            }
            assert_eq!(transcode_failures(&mut s), 0);

            // Unacknowledged: the binary subscribers get it, the JSON one is counted.
            publish(&mut s, p, 8, "com.nan", Dict::new(), nan.clone());
            assert!(s.take(p).is_empty());
            for x in [m, c] {
                let ev = events(&s.take(x));
                assert_eq!(ev.len(), 1);
                assert!(matches!(ev[0].2[1], Value::Float(f) if f.is_nan()));
            }
            assert!(events(&s.take(j)).is_empty());
            assert_eq!(transcode_failures(&mut s), 1);
            // A payload that transcodes still reaches everyone.
            publish(
                &mut s,
                p,
                9,
                "com.nan",
                dict! { "acknowledge" => true },
                vec![Value::Float(1.5)],
            );
            assert!(matches!(s.take(p).as_slice(), [Message::Published { .. }]));
            for x in [j, m, c] {
                assert_eq!(events(&s.take(x)).len(), 1);
            }
        }
    }
}

/// A CALL whose arguments cannot be transcoded for the callee, and a YIELD
/// whose result cannot be transcoded for the caller, answer the caller with
/// ERROR instead of leaving it waiting.
#[test]
fn untranscodable_call_and_result_answer_the_caller() {
    for shards in [1, 2] {
        let mut s = sim(shards);
        let (json_callee, _) = s.join(0, JSON, "realm1");
        let (mp_caller, _) = s.join(shards - 1, MP, "realm1");
        register(&mut s, json_callee, "com.json", Dict::new());
        call(
            &mut s,
            mp_caller,
            1,
            "com.json",
            Dict::new(),
            vec![Value::Float(f64::INFINITY)],
        );
        assert_eq!(
            error_of(&s.take(mp_caller)).as_deref(),
            Some(uris::ERROR_INVALID_ARGUMENT)
        );
        assert!(s.take(json_callee).is_empty());
        // The callee still works for a call it can receive.
        call(
            &mut s,
            mp_caller,
            2,
            "com.json",
            Dict::new(),
            vec![Value::UInt(1)],
        );
        let (req, ..) = invocation(&s.take(json_callee));
        s.send(
            json_callee,
            &Message::Yield {
                request: req,
                options: Dict::new(),
                payload: Payload::args(vec![Value::UInt(2)]),
            },
        );
        s.run();
        assert!(matches!(
            s.take(mp_caller).as_slice(),
            [Message::Result { request: 2, .. }]
        ));

        // A CBOR callee yields a NaN to a JSON caller.
        let (cbor_callee, _) = s.join(shards - 1, CBOR, "realm1");
        let (json_caller, _) = s.join(0, JSON, "realm1");
        register(&mut s, cbor_callee, "com.cbor", Dict::new());
        for (request, progress) in [(3, false), (4, true)] {
            let options = if progress {
                dict! { "receive_progress" => true }
            } else {
                Dict::new()
            };
            call(&mut s, json_caller, request, "com.cbor", options, vec![]);
            let (req, ..) = invocation(&s.take(cbor_callee));
            s.send(
                cbor_callee,
                &Message::Yield {
                    request: req,
                    options: if progress {
                        dict! { "progress" => true }
                    } else {
                        Dict::new()
                    },
                    payload: Payload::args(vec![Value::Float(f64::NAN)]),
                },
            );
            s.run();
            match s.take(json_caller).as_slice() {
                [Message::Error {
                    request_type: MessageType::Call,
                    request: r,
                    error,
                    ..
                }] => {
                    assert_eq!(*r, request);
                    assert_eq!(error, uris::ERROR_INVALID_ARGUMENT);
                }
                other => panic!("progress {progress}: {other:?}"),
            }
            // A later YIELD for the abandoned progressive call is dropped.
            if progress {
                s.send(
                    cbor_callee,
                    &Message::Yield {
                        request: req,
                        options: Dict::new(),
                        payload: Payload::args(vec![Value::UInt(1)]),
                    },
                );
                s.run();
                assert!(s.take(json_caller).is_empty());
            }
        }
        // The error arguments of a callee's ERROR too: the caller still gets an ERROR.
        call(&mut s, json_caller, 5, "com.cbor", Dict::new(), vec![]);
        let (req, ..) = invocation(&s.take(cbor_callee));
        s.send(
            cbor_callee,
            &Message::Error {
                request_type: MessageType::Invocation,
                request: req,
                details: Dict::new(),
                error: "com.error.oops".into(),
                payload: Payload::args(vec![Value::Float(f64::NAN)]),
            },
        );
        s.run();
        assert_eq!(
            error_of(&s.take(json_caller)).as_deref(),
            Some(uris::ERROR_INVALID_ARGUMENT)
        );
        assert!(transcode_failures(&mut s) >= 3);
    }
}
