//! The redactor on a small snapshot in V8's layout: what is kept and replaced, the same
//! output whatever the chunking, and typed errors on damaged input.

use super::*;

/// A snapshot with one node of each kind that matters: strings (one whose text is also a
/// property name), a closure, an object, a concatenated string (named by V8's label, kept);
/// a property edge, an element
/// edge whose index collides with a string index, a context edge; a traced function.
fn small_snapshot() -> String {
    let header = r#"{"snapshot":{"meta":{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic","concatenated string","sliced string","symbol","bigint","object shape"],"string","number","number","number","number","number"],"edge_fields":["type","name_or_index","to_node"],"edge_types":[["context","element","property","internal","hidden","shortcut","weak"],"string_or_number","node"],"trace_function_info_fields":["function_id","name","script_name","script_id","line","column"],"trace_node_fields":["id","function_info_index","count","size","children"],"sample_fields":["timestamp_us","last_assigned_id"],"location_fields":["object_index","script_id","line","column"]},"node_count":6,"edge_count":3,"trace_function_count":1},"#;
    // Strings: 0 <dummy>, 1 "", 2 Session (class), 3 token text, 4 "tok" (property and
    // string), 5 closure name, 6 escaped secret, 7 UTF-8 secret, 8 concatenated, 9 script.
    let nodes = "\n\"nodes\":[9,0,1,0,3,0,0\n,3,2,3,64,0,0,0\n,2,3,5,32,0,0,0\n,2,4,7,16,0,0,0\n,5,5,9,32,0,0,0\n,2,6,11,20,0,0,0\n,10,8,13,32,0,1,0\n,2,7,15,20,0,0,0]";
    let edges = ",\n\"edges\":[2,4,7\n,1,3,14\n,0,5,28]";
    let traces = ",\n\"trace_function_infos\":[1,5,9,3,1,1],\n\"trace_tree\":[1,0,1,32,[2,0,1,8,[]]],\n\"samples\":[],\n\"locations\":[28,3,0,12]";
    let strings = ",\n\"strings\":[\"<dummy>\",\n\"\",\n\"Session\",\n\"Bearer abc.def\",\n\"tok\",\n\"handler\",\n\"p\\u00e9\\n\\\"w\\\\\",\n\"caf\u{e9} \u{1F600}\",\n\"(concatenated string)\",\n\"file:///app/main.js\"]}";
    format!("{header}{nodes}{edges}{traces}{strings}\n")
}

fn redact_whole(input: &[u8]) -> Result<(Vec<u8>, RedactStats), RedactError> {
    let mut r = Redactor::new();
    let mut out = Vec::new();
    r.feed(input, &mut out)?;
    Ok((out, r.finish()?))
}

fn redact_in_chunks(input: &[u8], sizes: &[usize]) -> Result<Vec<u8>, RedactError> {
    let mut r = Redactor::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut k = 0;
    while at < input.len() {
        let n = sizes[k % sizes.len()].min(input.len() - at);
        r.feed(&input[at..at + n], &mut out)?;
        at += n;
        k += 1;
    }
    r.finish()?;
    Ok(out)
}

#[test]
fn replaces_string_contents_only() {
    let input = small_snapshot();
    let (out, stats) = redact_whole(input.as_bytes()).expect("redacts");
    let out = String::from_utf8(out).expect("utf-8");
    let expected = input
        .replace("\"Bearer abc.def\"", "\"xxxxxxxxxxxxxx\"")
        .replace("\"p\\u00e9\\n\\\"w\\\\\"", "\"xxxxxx\"")
        .replace("\"caf\u{e9} \u{1F600}\"", "\"xxxxxxx\"");
    assert_eq!(out, expected);
    assert_eq!(stats.strings, 10);
    assert_eq!(stats.redacted, 3);
    assert_eq!(stats.bytes_in, input.len() as u64);
    assert_eq!(stats.bytes_out, out.len() as u64);
}

#[test]
fn any_chunking_gives_the_same_output() {
    let input = small_snapshot();
    let (whole, _) = redact_whole(input.as_bytes()).expect("redacts");
    for sizes in [&[1][..], &[2], &[3, 1, 7], &[13, 5], &[64]] {
        let chunked = redact_in_chunks(input.as_bytes(), sizes).expect("redacts");
        assert_eq!(chunked, whole, "chunk sizes {sizes:?}");
    }
}

#[test]
fn the_stream_form_matches() {
    let input = small_snapshot();
    let (whole, stats) = redact_whole(input.as_bytes()).expect("redacts");
    let mut out = Vec::new();
    let streamed = redact(input.as_bytes(), &mut out).expect("redacts");
    assert_eq!(out, whole);
    assert_eq!(streamed, stats);
}

/// Every prefix of the snapshot is an error at `finish` (never a panic, never success),
/// and damage anywhere is an error or a redaction no longer than it, never a panic.
#[test]
fn damaged_input_is_an_error() {
    let input = small_snapshot();
    let bytes = input.as_bytes();
    let end = bytes.len() - 2; // before `}` and the newline
    for cut in 0..end {
        assert!(
            redact_whole(&bytes[..cut]).is_err(),
            "a snapshot cut at {cut} was accepted"
        );
    }
    for at in 0..bytes.len() {
        for b in [b'x', b'"', b']', b'[', b'\\', b'-', 0xff] {
            let mut damaged = bytes.to_vec();
            damaged[at] = b;
            // Accepted damage (a byte that is no UTF-8 in a string) never grows the file.
            if let Ok((out, _)) = redact_whole(&damaged) {
                assert!(out.len() <= damaged.len(), "{b:#x} at {at} grew the output");
            }
        }
    }
}

#[test]
fn errors_are_typed() {
    type IsExpected = fn(&RedactError) -> bool;
    let cases: &[(&str, IsExpected)] = &[
        ("[1]", |e| {
            matches!(e, RedactError::Unexpected { offset: 0, .. })
        }),
        (r#"{"nodes":[1]}"#, |e| {
            matches!(
                e,
                RedactError::OutOfOrder {
                    section: "nodes",
                    ..
                }
            )
        }),
        (r#"{"snapshot":{"meta":{}}}"#, |e| {
            matches!(e, RedactError::Header { .. })
        }),
        (r#"{"snapshot":{"meta":"#, |e| {
            matches!(e, RedactError::Truncated { .. })
        }),
        (r#"{"strings":["a"]}"#, |e| {
            matches!(
                e,
                RedactError::OutOfOrder {
                    section: "strings",
                    ..
                }
            )
        }),
        (r#"{"a":1} x"#, |e| {
            matches!(e, RedactError::Unexpected { .. })
        }),
    ];
    for (input, is) in cases {
        let err = redact_whole(input.as_bytes()).expect_err(input);
        assert!(is(&err), "{input}: {err:?}");
    }
    let header = &small_snapshot()[..small_snapshot().find("\n\"nodes\"").expect("nodes")];
    let err = redact_whole(format!("{header}\"nodes\":[2,1,2]}}").as_bytes()).expect_err("partial");
    assert!(matches!(
        err,
        RedactError::PartialRecord {
            section: "nodes",
            fields: 7,
            ..
        }
    ));
    let err = redact_whole(format!("{header}\"nodes\":[99999999999999999999999]}}").as_bytes())
        .expect_err("overflow");
    assert!(matches!(err, RedactError::NumberTooLarge { .. }));
    let err = redact_whole(format!("{header}\"nodes\":[2,99999999999,1,1,1,1,1]}}").as_bytes())
        .expect_err("index");
    assert!(matches!(
        err,
        RedactError::StringIndexOutOfRange {
            index: 99999999999,
            ..
        }
    ));
}
