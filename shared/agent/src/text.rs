//! Bounding text for logs, prompts and stored records.

/// At most `max` bytes, cut at a character boundary, with an ellipsis when cut.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
