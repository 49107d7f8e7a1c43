//! Frame Streams (fstrm), the framing dnstap travels in: data frames are a
//! 32-bit big-endian length and the payload; control frames (START, STOP and,
//! over a socket, READY/ACCEPT and FINISH) follow a zero "escape" length.
//!
//! A file is START, data frames, STOP. A socket is bidirectional at first:
//! we send READY with our content type, the reader answers ACCEPT, we send
//! START; at the end STOP, answered by FINISH.

use std::io::{self, Read, Write};

/// The content type every dnstap stream carries.
pub(crate) const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";

/// Control frame types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Control {
    /// The reader takes one of the content types offered.
    Accept = 1,
    /// The stream begins.
    Start = 2,
    /// The stream ends.
    Stop = 3,
    /// The writer offers content types.
    Ready = 4,
    /// The reader has read everything up to STOP.
    Finish = 5,
}

/// The one control field type: a content type.
const FIELD_CONTENT_TYPE: u32 = 1;

/// Largest control frame we read from a reader: fstrm's own limit, far
/// above an ACCEPT or FINISH with a content type.
const MAX_CONTROL: usize = 512;

/// A control frame, escape and length included.
pub(crate) fn control(kind: Control, content_type: Option<&[u8]>) -> Vec<u8> {
    let field_len = content_type.map_or(0, |t| 8 + t.len());
    let mut frame = Vec::with_capacity(12 + field_len);
    frame.extend_from_slice(&0u32.to_be_bytes());
    frame.extend_from_slice(&((4 + field_len) as u32).to_be_bytes());
    frame.extend_from_slice(&(kind as u32).to_be_bytes());
    if let Some(t) = content_type {
        frame.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        frame.extend_from_slice(&(t.len() as u32).to_be_bytes());
        frame.extend_from_slice(t);
    }
    frame
}

/// Appends one data frame carrying `payload` (never empty: a zero length is the escape).
pub(crate) fn data(payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(!payload.is_empty());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// One frame as read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A data frame's payload.
    Data(Vec<u8>),
    /// A control frame: its type (raw, so an unknown one can be reported)
    /// and the content types it names.
    Control(u32, Vec<Vec<u8>>),
}

/// Reads one frame; `None` at a clean end of input.
pub(crate) fn read_frame(r: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut word = [0u8; 4];
    match r.read_exact(&mut word) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let len = u32::from_be_bytes(word) as usize;
    if len != 0 {
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload)?;
        return Ok(Some(Frame::Data(payload)));
    }
    r.read_exact(&mut word)?;
    let len = u32::from_be_bytes(word) as usize;
    if !(4..=MAX_CONTROL).contains(&len) {
        return Err(invalid(format!("a control frame of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let kind = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
    let mut types = Vec::new();
    let mut rest = &body[4..];
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(invalid("a truncated control field".into()));
        }
        let field = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let field_len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let value = rest
            .get(8..8 + field_len)
            .ok_or_else(|| invalid("a control field longer than its frame".into()))?;
        if field == FIELD_CONTENT_TYPE {
            types.push(value.to_vec());
        }
        rest = &rest[8 + field_len..];
    }
    Ok(Some(Frame::Control(kind, types)))
}

/// The writer's side of the socket handshake: READY, then the reader's
/// ACCEPT (of our content type, when it names one), then START.
pub(crate) fn open(stream: &mut (impl Read + Write)) -> io::Result<()> {
    stream.write_all(&control(Control::Ready, Some(CONTENT_TYPE)))?;
    stream.flush()?;
    match read_frame(stream)? {
        Some(Frame::Control(kind, types)) if kind == Control::Accept as u32 => {
            if !types.is_empty() && !types.iter().any(|t| t == CONTENT_TYPE) {
                return Err(invalid("the reader does not accept protobuf:dnstap.Dnstap".into()));
            }
        }
        Some(other) => return Err(invalid(format!("expected ACCEPT from the reader, got {other:?}"))),
        None => return Err(io::ErrorKind::UnexpectedEof.into()),
    }
    stream.write_all(&control(Control::Start, Some(CONTENT_TYPE)))?;
    stream.flush()
}

/// The writer's side of the socket's end: STOP, then the reader's FINISH.
pub(crate) fn close(stream: &mut (impl Read + Write)) -> io::Result<()> {
    stream.write_all(&control(Control::Stop, None))?;
    stream.flush()?;
    match read_frame(stream)? {
        Some(Frame::Control(kind, _)) if kind == Control::Finish as u32 => Ok(()),
        other => Err(invalid(format!("expected FINISH from the reader, got {other:?}"))),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_as_written() {
        let mut stream = control(Control::Start, Some(CONTENT_TYPE));
        data(b"one", &mut stream);
        data(b"two!", &mut stream);
        stream.extend(control(Control::Stop, None));
        let mut r = &stream[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some(Frame::Control(2, vec![CONTENT_TYPE.to_vec()]))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::Data(b"one".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::Data(b"two!".to_vec())));
        assert_eq!(read_frame(&mut r).unwrap(), Some(Frame::Control(3, vec![])));
        assert_eq!(read_frame(&mut r).unwrap(), None);
    }

    #[test]
    fn a_start_frame_is_laid_out_as_fstrm_writes_it() {
        // escape, length 34 (type 4, field 4 + 4 + 22), START, CONTENT_TYPE, 22, "protobuf:dnstap.Dnstap"
        let frame = control(Control::Start, Some(CONTENT_TYPE));
        assert_eq!(&frame[..16], &[0, 0, 0, 0, 0, 0, 0, 34, 0, 0, 0, 2, 0, 0, 0, 1]);
        assert_eq!(&frame[16..20], &[0, 0, 0, 22]);
        assert_eq!(&frame[20..], CONTENT_TYPE);
    }

    #[test]
    fn bad_control_frames_are_errors_not_panics() {
        for bytes in [
            &[0, 0, 0, 0, 0, 0, 0, 2, 0, 0][..],
            &[0, 0, 0, 0, 0, 1, 0, 0][..],
            &[0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9][..],
            &[0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0][..],
        ] {
            assert!(read_frame(&mut &bytes[..]).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn the_handshake_over_a_socket_pair() {
        let (mut writer, mut reader) = std::os::unix::net::UnixStream::pair().unwrap();
        let peer = std::thread::spawn(move || {
            let ready = read_frame(&mut reader).unwrap();
            assert_eq!(ready, Some(Frame::Control(4, vec![CONTENT_TYPE.to_vec()])));
            reader.write_all(&control(Control::Accept, Some(CONTENT_TYPE))).unwrap();
            assert!(matches!(read_frame(&mut reader).unwrap(), Some(Frame::Control(2, _))));
            assert_eq!(read_frame(&mut reader).unwrap(), Some(Frame::Data(b"x".to_vec())));
            assert_eq!(read_frame(&mut reader).unwrap(), Some(Frame::Control(3, vec![])));
            reader.write_all(&control(Control::Finish, None)).unwrap();
        });
        open(&mut writer).unwrap();
        let mut frame = Vec::new();
        data(b"x", &mut frame);
        writer.write_all(&frame).unwrap();
        close(&mut writer).unwrap();
        peer.join().unwrap();
    }

    #[test]
    fn a_reader_of_another_content_type_is_refused() {
        let (mut writer, mut reader) = std::os::unix::net::UnixStream::pair().unwrap();
        let peer = std::thread::spawn(move || {
            read_frame(&mut reader).unwrap();
            reader
                .write_all(&control(Control::Accept, Some(b"json:other")))
                .unwrap();
        });
        assert!(open(&mut writer).is_err());
        peer.join().unwrap();
    }
}
