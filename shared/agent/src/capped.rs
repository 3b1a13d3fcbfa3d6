//! Upstream answers read with a byte cap: a model API, retrieval or transcription service
//! that sends without end (or one huge SSE line) fails the call instead of filling the
//! function's memory.

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// The most a JSON answer (a title, an error body, a transcription, retrieval results) may be.
pub const MAX_ANSWER_BYTES: usize = 2 << 20;

/// The longest SSE line of a model stream (a Responses API `response.completed` event repeats
/// the whole reply, tool arguments included).
pub const MAX_SSE_LINE_BYTES: usize = 8 << 20;

/// Why a capped read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
}

/// The whole body, failing once it passes `max` bytes (read no further).
pub async fn body(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|len| len > max as u64) {
        return Err(ReadError::TooLarge(max));
    }
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if out.len() + chunk.len() > max {
            return Err(ReadError::TooLarge(max));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `chunks` passed through, failing once a line runs past `max` bytes without a newline.
pub fn lines<S, E>(chunks: S, max: usize) -> impl Stream<Item = Result<Bytes, ReadError>>
where
    S: Stream<Item = Result<Bytes, E>>,
    ReadError: From<E>,
{
    let mut open_line = 0usize;
    chunks.map(move |chunk| {
        let chunk = chunk?;
        // the line left open by earlier chunks continues into this chunk's first segment
        for (i, segment) in chunk.split(|&b| b == b'\n').enumerate() {
            open_line = if i == 0 { open_line + segment.len() } else { segment.len() };
            if open_line > max {
                return Err(ReadError::TooLarge(max));
            }
        }
        Ok(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_line_past_the_cap_fails_and_newlines_reset_it() {
        let chunks = |parts: Vec<&'static [u8]>| {
            futures::stream::iter(parts.into_iter().map(|p| Ok::<_, ReadError>(Bytes::from(p))))
        };
        // lines of 13 and 14 bytes, each split across chunks
        let ok: Vec<_> =
            lines(chunks(vec![b"data: 12345", b"67\n\ndata: 1234", b"5678\n"]), 14).collect().await;
        assert!(ok.iter().all(Result::is_ok));
        let long: Vec<_> = lines(chunks(vec![b"data: 12345", b"67\n\ndata: 1234", b"56789\n"]), 14)
            .collect()
            .await;
        assert!(matches!(long.last(), Some(Err(ReadError::TooLarge(14)))), "{long:?}");
    }
}
