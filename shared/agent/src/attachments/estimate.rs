//! What an image or a PDF counts for in the token estimate (the model-input budget, and what
//! a round reserves of the user's daily tokens): not its bytes as text, but what providers
//! charge for it.
//!
//! - An image: [`IMAGE_TOKENS`], the most a supported provider charges for one. Providers
//!   scale images down before they count them (Anthropic models on Bedrock about 1,600
//!   tokens at 1.15 megapixels, OpenAI at most 1,105 at high detail), and the bytes say
//!   little about the dimensions, so every image counts the worst case.
//! - A PDF: [`PDF_PAGE_TOKENS`] per page (providers read each page's text and an image of
//!   it), up to [`PDF_MAX_PAGES`]. Its pages are counted when its bytes are read (inline
//!   sending); otherwise estimated from its size, [`PDF_BYTES_PER_PAGE`] a page; unknown
//!   size counts [`PDF_UNKNOWN_PAGES`].

use chatkit_protocol::Attachment;
use serde_json::Value;

/// Estimated tokens of one image.
pub const IMAGE_TOKENS: usize = 1_600;
/// Estimated tokens of one PDF page.
pub const PDF_PAGE_TOKENS: usize = 1_000;
/// Bytes per page assumed when a PDF's pages were not counted.
pub const PDF_BYTES_PER_PAGE: u64 = 100_000;
/// The most pages providers read of one PDF.
pub const PDF_MAX_PAGES: u64 = 100;
/// Pages assumed for a PDF of unknown size.
pub const PDF_UNKNOWN_PAGES: u64 = 10;

/// The declared size the attachment store recorded (private metadata), if any.
pub fn recorded_size(attachment: &Attachment) -> Option<u64> {
    attachment.metadata().and_then(|m| m.get("size")).and_then(Value::as_u64)
}

/// The pages of a PDF, counted in its bytes (`/Type /Page` objects), when any are visible
/// (compressed object streams hide them).
pub fn count_pdf_pages(bytes: &[u8]) -> Option<u64> {
    let mut pages = 0u64;
    let mut rest = bytes;
    while let Some(at) = find(rest, b"/Type") {
        rest = &rest[at + 5..];
        let value = trim_start(rest);
        if value.starts_with(b"/Page") && !value[5..].first().is_some_and(u8::is_ascii_alphanumeric)
        {
            pages += 1;
        }
    }
    (pages > 0).then_some(pages)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

/// Estimated tokens of a PDF of `pages` (counted) or `size` bytes.
pub fn pdf_tokens(pages: Option<u64>, size: Option<u64>) -> usize {
    let pages = pages
        .or_else(|| size.map(|s| s.div_ceil(PDF_BYTES_PER_PAGE)))
        .unwrap_or(PDF_UNKNOWN_PAGES)
        .clamp(1, PDF_MAX_PAGES);
    usize::try_from(pages).unwrap_or(usize::MAX).saturating_mul(PDF_PAGE_TOKENS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdfs_count_their_pages_or_their_size() {
        let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n3 0 obj << /Type /Page >> endobj\n4 0 obj <</Type/Page/Parent 2 0 R>> endobj";
        assert_eq!(count_pdf_pages(pdf), Some(2), "/Pages and /Catalog are not pages");
        assert_eq!(count_pdf_pages(b"%PDF-1.7 compressed streams only"), None);
        assert_eq!(pdf_tokens(Some(2), Some(9_000_000)), 2 * PDF_PAGE_TOKENS, "counted pages win");
        assert_eq!(pdf_tokens(None, Some(250_000)), 3 * PDF_PAGE_TOKENS);
        assert_eq!(pdf_tokens(None, Some(10)), PDF_PAGE_TOKENS, "at least one page");
        assert_eq!(pdf_tokens(None, Some(u64::MAX)), 100 * PDF_PAGE_TOKENS, "at most 100");
        assert_eq!(pdf_tokens(Some(400), None), 100 * PDF_PAGE_TOKENS);
        assert_eq!(pdf_tokens(None, None), 10 * PDF_PAGE_TOKENS);
    }
}
