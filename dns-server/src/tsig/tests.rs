//! TSIG tests: known answers from real tools, every error, streams.

use super::*;

/// The secret of the captured queries: `kdig`/`dig -y ALG:xfr-key.example.:SECRET`.
const SECRET: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHMtMTIzNDU2Nzg5MA==";

/// `example.test SOA` queries signed by real tools (kdig 3.2, and dig 9.18
/// for the last), captured from a UDP socket: the known answers.
const CAPTURED: [(&str, &str, &str); 5] = [
    (
        "kdig",
        "hmac-sha1",
        "771401200001000000000001076578616d706c6504746573740000060001077866722d6b6579076578616d706c650000fa00ff00000000002f09686d61632d736861310000006b133e4b012c001440a31da224dc38963b25b360bd0aa5bdde2d6d6b771400000000",
    ),
    (
        "kdig",
        "hmac-sha256",
        "14f901200001000000000001076578616d706c6504746573740000060001077866722d6b6579076578616d706c650000fa00ff00000000003d0b686d61632d7368613235360000006b133e4d012c002011881967c28bbb0f2eef01da414320d3b22dbc9a31061e60b8aedca053b3512a14f900000000",
    ),
    (
        "kdig",
        "hmac-sha384",
        "468501200001000000000001076578616d706c6504746573740000060001077866722d6b6579076578616d706c650000fa00ff00000000004d0b686d61632d7368613338340000006b133e4f012c0030219b91ba4fc5e25643cf1bc9f83ec61c3faf9d5a89820e757b6b599e267939996412fb20712fe29e8e044448b988bd50468500000000",
    ),
    (
        "kdig",
        "hmac-sha512",
        "8c0a01200001000000000001076578616d706c6504746573740000060001077866722d6b6579076578616d706c650000fa00ff00000000005d0b686d61632d7368613531320000006b133e50012c00402d68a9787d5d072131d135492ac53969db75ea3689635abb757c826597b191674bdde73e883c15c79ed501bb73314800fef0b27b92626ec20c617fb553a7885f8c0a00000000",
    ),
    (
        "dig",
        "hmac-sha512",
        "1a5701200001000000000001076578616d706c6504746573740000060001077866722d6b6579076578616d706c650000fa00ff00000000005d0b686d61632d7368613531320000006b133e53012c004004a7b715b951b8ddaa0c61fd30831bb6e52cf66c71d69b17417134cff63b62f5324f496fb7f9763122d47c6bb7ae1ec8214e3c790853494fde381882867bfe901a5700000000",
    ),
];

fn hex(text: &str) -> Vec<u8> {
    data_encoding::HEXLOWER.decode(text.as_bytes()).expect("hex")
}

fn key(alg: &str) -> Arc<Key> {
    Arc::new(Key::from_text("xfr-key.example", alg, SECRET).expect("key"))
}

fn ring_of(alg: &str) -> KeyRing {
    KeyRing::new([key(alg)])
}

/// When a captured message was signed.
fn signed_at(msg: &[u8]) -> u64 {
    split(msg).expect("parses").expect("signed").record.time_signed
}

/// A plain query for `example.test SOA`, as the test's own requests.
fn query(id: u16) -> Vec<u8> {
    let mut msg = hex("000000000001000000000000076578616d706c6504746573740000060001");
    msg[..2].copy_from_slice(&id.to_be_bytes());
    msg
}

#[test]
fn real_tools_signatures_verify_and_ours_are_identical() {
    for (tool, alg, text) in CAPTURED {
        let msg = hex(text);
        let now = signed_at(&msg);
        let verified = verify_request(&msg, &ring_of(alg), now)
            .unwrap_or_else(|r| panic!("{tool} {alg}: {:?}", r.error))
            .expect("signed");
        assert_eq!(verified.key.algorithm().name(), alg);
        assert_eq!(verified.mac.len(), Algorithm::from_name(alg).expect("known").mac_len());
        // Signing the same query at the same time gives the tool's bytes.
        let mut ours = msg[..verified.body_len].to_vec();
        ours[10..12].copy_from_slice(&0u16.to_be_bytes());
        let mac = sign_request(&mut ours, &key(alg), now);
        assert_eq!(mac, verified.mac, "{tool} {alg}: the MAC");
        assert_eq!(ours, msg, "{tool} {alg}: the whole message");
    }
}

#[test]
fn each_error_is_the_rfc_one() {
    let (_, alg, text) = CAPTURED[1];
    let msg = hex(text);
    let now = signed_at(&msg);
    let err = |m: &[u8], keys: &KeyRing, now: u64| verify_request(m, keys, now).expect_err("rejected").error;

    // Unknown name, and the right name with another algorithm.
    let other = KeyRing::new([Arc::new(Key::from_text("other-key", alg, SECRET).expect("key"))]);
    assert_eq!(err(&msg, &other, now), TsigError::BadKey);
    assert_eq!(err(&msg, &ring_of("hmac-sha512"), now), TsigError::BadKey);
    // A wrong secret, and a flipped bit in the question.
    let wrong = KeyRing::new([Arc::new(
        Key::new("xfr-key.example.", Algorithm::HmacSha256, b"wrong").expect("key"),
    )]);
    assert_eq!(err(&msg, &wrong, now), TsigError::BadSig);
    let mut flipped = msg.clone();
    flipped[14] ^= 0x20;
    assert_eq!(err(&flipped, &ring_of(alg), now), TsigError::BadSig);
    // Outside the fudge either way; at its edge still good.
    assert_eq!(err(&msg, &ring_of(alg), now + 301), TsigError::BadTime);
    assert_eq!(err(&msg, &ring_of(alg), now - 301), TsigError::BadTime);
    assert!(verify_request(&msg, &ring_of(alg), now + 300).is_ok());

    // A MAC truncated to 16 of its 32 bytes: a valid prefix, refused by policy.
    let truncated = with_mac_len(&msg, 16);
    assert_eq!(err(&truncated, &ring_of(alg), now), TsigError::BadTrunc);
    // Below 10 bytes or half the hash: malformed.
    let short = with_mac_len(&msg, 8);
    assert!(matches!(err(&short, &ring_of(alg), now), TsigError::FormErr(_)));
    // A record cut short.
    let cut = &msg[..msg.len() - 3];
    assert!(matches!(err(cut, &ring_of(alg), now), TsigError::FormErr(_)));
    // Unsigned: no TSIG at all.
    assert!(verify_request(&query(7), &ring_of(alg), now).expect("fine").is_none());
}

/// The captured message with its MAC cut to `len` bytes (RDLENGTH fixed up).
fn with_mac_len(msg: &[u8], len: usize) -> Vec<u8> {
    let s = split(msg).expect("parses").expect("signed");
    let r = s.record;
    let mut out = s.body.to_vec();
    out[10..12].copy_from_slice(&0u16.to_be_bytes());
    append_record(
        &mut out,
        &r.key_name,
        &r.algorithm_wire,
        r.time_signed,
        &r.mac[..len],
        r.error,
        &r.other,
    );
    out[..2].copy_from_slice(&msg[..2]);
    out
}

#[test]
fn a_response_verifies_against_its_request_only() {
    let k = key("hmac-sha256");
    let now = 1_800_000_000;
    let mut request = query(42);
    let request_mac = sign_request(&mut request, &k, now);
    let verified = verify_request(&request, &KeyRing::new([Arc::clone(&k)]), now)
        .expect("good")
        .expect("signed");
    let mut response = query(42);
    response[2] |= 0x84;
    sign_response(&mut response, &verified.key, now + 1, &verified.mac);
    assert!(verify_response(&response, &k, now + 2, &request_mac).is_ok());
    assert_eq!(
        verify_response(&response, &k, now + 2, &[0; 32]),
        Err(TsigError::BadSig),
        "another request's MAC"
    );
    // An unsigned response to a signed request.
    assert_eq!(
        verify_response(&query(42), &k, now, &request_mac),
        Err(TsigError::BadSig)
    );
}

#[test]
fn error_responses_carry_the_error() {
    let k = key("hmac-sha256");
    let now = 1_800_000_000;
    let mut request = query(5);
    let request_mac = sign_request(&mut request, &k, now);

    // BADKEY: unsigned, empty MAC, error 17; the client sees BADKEY.
    let rejection = verify_request(&request, &KeyRing::default(), now).expect_err("no keys");
    assert_eq!(
        (rejection.error, rejection.error.rcode()),
        (TsigError::BadKey, rcode::NOTAUTH)
    );
    let mut response = query(5);
    rejection.append_to(&mut response, now);
    let r = split(&response).expect("parses").expect("a TSIG record").record;
    assert_eq!((r.error, r.mac.len()), (code::BADKEY, 0));
    assert_eq!(
        verify_response(&response, &k, now, &request_mac),
        Err(TsigError::BadKey)
    );

    // BADTIME: signed, with our time in other data.
    let later = now + 1000;
    let rejection = verify_request(&request, &KeyRing::new([Arc::clone(&k)]), later).expect_err("late");
    assert_eq!(rejection.error, TsigError::BadTime);
    let mut response = query(5);
    rejection.append_to(&mut response, later);
    let r = split(&response).expect("parses").expect("a TSIG record").record;
    assert_eq!((r.error, r.other), (code::BADTIME, time48(later).to_vec()));
    assert_eq!(r.mac.len(), 32, "signed");
}

#[test]
fn streams_verify_with_unsigned_messages_between() {
    let k = key("hmac-sha384");
    let now = 1_800_000_000;
    let mut request = query(9);
    let request_mac = sign_request(&mut request, &k, now);
    let mut signer = StreamSigner::new(Arc::clone(&k), request_mac.clone());
    // Five messages; the second and third unsigned, as a server may send.
    let messages: Vec<Vec<u8>> = (0..5u64)
        .map(|i| {
            let mut m = query(9);
            m[2] |= 0x84;
            if i == 1 || i == 2 {
                assert!(signer.pass_unsigned(&m));
            } else {
                signer.sign(&mut m, now + i);
            }
            m
        })
        .collect();
    let mut v = StreamVerifier::new(Arc::clone(&k), request_mac.clone());
    let signed: Vec<bool> = messages.iter().map(|m| v.verify(m, now).expect("verifies")).collect();
    assert_eq!(signed, [true, false, false, true, true]);
    v.finish().expect("ends signed");

    // Dropping a message from the middle breaks the chain.
    let mut v = StreamVerifier::new(Arc::clone(&k), request_mac.clone());
    v.verify(&messages[0], now).expect("first");
    assert_eq!(v.verify(&messages[3], now), Err(TsigError::BadSig));
    // A stream ending on an unsigned message is not finished.
    let mut v = StreamVerifier::new(Arc::clone(&k), request_mac.clone());
    v.verify(&messages[0], now).expect("first");
    v.verify(&messages[1], now).expect("unsigned");
    assert_eq!(v.finish(), Err(TsigError::BadSig));
    // The first message must be signed.
    let mut v = StreamVerifier::new(Arc::clone(&k), request_mac);
    assert_eq!(v.verify(&query(9), now), Err(TsigError::BadSig));
}

#[test]
fn keys_from_config_text() {
    assert!(Key::from_text("k", "hmac-sha256", SECRET).is_ok());
    assert!(
        Key::from_text("k.", "HMAC-SHA1.", SECRET).is_ok(),
        "any case, optional dot"
    );
    assert!(matches!(
        Key::from_text("k", "hmac-md5", SECRET),
        Err(KeyError::Algorithm(_))
    ));
    assert_eq!(
        Key::from_text("k", "hmac-sha256", "not base64!").err(),
        Some(KeyError::Secret)
    );
    assert_eq!(Key::from_text("k", "hmac-sha256", "").err(), Some(KeyError::Empty));
    assert!(
        format!("{:?}", key("hmac-sha256")).ends_with("hmac-sha256)"),
        "no secret in Debug"
    );
    let ring = KeyRing::new([key("hmac-sha256")]);
    assert!(ring.by_name("XFR-KEY.example.").is_some());
    assert!(ring.by_name("other").is_none());
}
