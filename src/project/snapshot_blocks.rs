//! Where `{% snapshot name %} ... {% endsnapshot %}` blocks sit in a snapshot file.
//!
//! minijinja has no `snapshot` tag, and a file may hold several snapshots, so each block
//! becomes a node of its own whose template is the file with everything but that block's body
//! blanked out: the body keeps its lines and columns, so an error in it points at the file as
//! the user sees it.

use std::ops::Range;

/// One snapshot block of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotBlock {
    pub name: String,
    /// Byte range of the name in the file.
    pub name_span: Range<usize>,
    /// Byte range of the SQL between the two tags.
    pub body: Range<usize>,
}

/// A block that does not close, or a tag without a name: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockError {
    pub span: Range<usize>,
    pub message: String,
}

/// A `{% ... %}` tag: its range in the file and the words inside it.
struct Tag<'a> {
    span: Range<usize>,
    inner: &'a str,
    inner_start: usize,
}

fn tags(text: &str) -> impl Iterator<Item = Tag<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + text[at..].find("{%")?;
        let end = start
            + text[start..]
                .find("%}")
                .map_or(text.len() - start, |e| e + 2);
        at = end;
        let inner_start = start + 2;
        let inner = &text[inner_start..end.saturating_sub(2).max(inner_start)];
        Some(Tag {
            span: start..end,
            inner,
            inner_start,
        })
    })
}

/// The snapshot blocks of `text`, in order.
pub fn snapshot_blocks(text: &str) -> Result<Vec<SnapshotBlock>, BlockError> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, Range<usize>, usize)> = None;
    for tag in tags(text) {
        let words = tag.inner.trim_matches('-').trim();
        let (keyword, rest) = words.split_once(char::is_whitespace).unwrap_or((words, ""));
        match keyword {
            "snapshot" => {
                if let Some((name, span, _)) = &open {
                    return Err(BlockError {
                        span: span.clone(),
                        message: format!(
                            "snapshot '{name}' is not closed before the next one starts; add {{% endsnapshot %}}"
                        ),
                    });
                }
                let name = rest.trim();
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(BlockError {
                        span: tag.span,
                        message: "a snapshot block needs a name: {% snapshot orders_snapshot %}"
                            .into(),
                    });
                }
                let offset = tag.inner_start + tag.inner.find(name).unwrap_or(0);
                open = Some((name.to_string(), offset..offset + name.len(), tag.span.end));
            }
            "endsnapshot" => match open.take() {
                Some((name, name_span, body_start)) => blocks.push(SnapshotBlock {
                    name,
                    name_span,
                    body: body_start..tag.span.start,
                }),
                None => {
                    return Err(BlockError {
                        span: tag.span,
                        message: "{% endsnapshot %} without a {% snapshot %} before it".into(),
                    });
                }
            },
            _ => {}
        }
    }
    match open {
        Some((name, span, _)) => Err(BlockError {
            span,
            message: format!("snapshot '{name}' is never closed; add {{% endsnapshot %}}"),
        }),
        None => Ok(blocks),
    }
}

/// `text` with everything outside `body` turned into spaces, newlines kept.
pub fn blank_outside(text: &str, body: &Range<usize>) -> String {
    text.char_indices()
        .map(|(at, c)| match c {
            '\n' | '\r' => c,
            _ if body.contains(&at) => c,
            _ => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_block_and_keeps_the_body_in_place() {
        let text = "{% snapshot a %}\nselect 1\n{% endsnapshot %}\n\n{%- snapshot b -%}select {{ x }}{%- endsnapshot -%}\n";
        let blocks = snapshot_blocks(text).unwrap();
        let names: Vec<_> = blocks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(&text[blocks[0].name_span.clone()], "a");
        assert_eq!(&text[blocks[1].body.clone()], "select {{ x }}");
        let blanked = blank_outside(text, &blocks[0].body);
        assert_eq!(blanked.len(), text.len());
        assert_eq!(blanked.lines().nth(1), Some("select 1"));
        assert!(!blanked.contains("snapshot"));
    }

    #[test]
    fn unclosed_and_nameless_blocks_are_errors() {
        let e = snapshot_blocks("{% snapshot a %}\nselect 1").unwrap_err();
        assert!(e.message.contains("never closed"), "{}", e.message);
        let e = snapshot_blocks("{% snapshot %}select 1{% endsnapshot %}").unwrap_err();
        assert!(e.message.contains("needs a name"), "{}", e.message);
        let e = snapshot_blocks("select 1 {% endsnapshot %}").unwrap_err();
        assert!(e.message.contains("without"), "{}", e.message);
    }
}
