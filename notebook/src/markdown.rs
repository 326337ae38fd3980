//! Markdown cells and `text/markdown` outputs as HTML that is safe to put in the page.
//!
//! A notebook may come from a stranger, so nothing in it may run script or make a request:
//! CommonMark with tables, strikethrough and task lists is rendered, raw HTML is shown as
//! text (never parsed), links and images follow [`crate::safe`] (as HTML outputs do): an
//! unsafe link becomes `#`, and any image but a `data:` one becomes a link labelled with
//! its alternative text, so nothing loads by itself. Math (`$x$`) stays as written.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

use crate::safe::{is_data_image, is_safe_link};

/// `markdown` as HTML safe to insert into the page.
pub fn to_safe_html(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    // Images cannot nest, so one flag says whether the open one became a link.
    let mut image_as_link = false;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_link(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            image_as_link = !is_data_image(&dest_url);
            if image_as_link {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url: safe_link(dest_url),
                    title,
                    id,
                })
            } else {
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            }
        }
        Event::End(TagEnd::Image) if image_as_link => {
            image_as_link = false;
            Event::End(TagEnd::Link)
        }
        other => other,
    });
    let mut rendered = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut rendered, events);
    rendered
}

/// The link itself if it is harmless ([`is_safe_link`]), or `#`.
fn safe_link(url: CowStr<'_>) -> CowStr<'_> {
    if is_safe_link(&url) {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(markdown: &str, expected: &str) {
        assert_eq!(to_safe_html(markdown), expected, "{markdown:?}");
    }

    #[test]
    fn commonmark_with_tables_and_fenced_code_renders() {
        check(
            "# Title\n\nSome *text*.",
            "<h1>Title</h1>\n<p>Some <em>text</em>.</p>\n",
        );
        check(
            "| a | b |\n|---|---|\n| 1 | 2 |",
            "<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody>\n<tr><td>1</td><td>2</td></tr>\n</tbody></table>\n",
        );
        check(
            "```python\nprint(1)\n```",
            "<pre><code class=\"language-python\">print(1)\n</code></pre>\n",
        );
        check("~~gone~~", "<p><del>gone</del></p>\n");
        check("$x^2$", "<p>$x^2$</p>\n");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        check(
            "<script>alert(1)</script>",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
        );
        check(
            "a <img src=x onerror=alert(1)> b",
            "<p>a &lt;img src=x onerror=alert(1)&gt; b</p>\n",
        );
    }

    #[test]
    fn links_keep_only_harmless_schemes() {
        check(
            "[ok](https://example.org/a)",
            "<p><a href=\"https://example.org/a\">ok</a></p>\n",
        );
        check("[in page](#part)", "<p><a href=\"#part\">in page</a></p>\n");
        check("[x](javascript:alert(1))", "<p><a href=\"#\">x</a></p>\n");
        check(
            "[x](JaVa%09script:alert(1))",
            "<p><a href=\"#\">x</a></p>\n",
        );
        check(
            "[x](<java\tscript:alert(1)>)",
            "<p><a href=\"#\">x</a></p>\n",
        );
        check("[x](data:text/html,hi)", "<p><a href=\"#\">x</a></p>\n");
        check(
            "<javascript:alert(1)>",
            "<p><a href=\"#\">javascript:alert(1)</a></p>\n",
        );
        check(
            "[x](java&#x09;script:alert(1))",
            "<p><a href=\"#\">x</a></p>\n",
        );
        check(
            "[x](&#106;avascript:alert(1))",
            "<p><a href=\"#\">x</a></p>\n",
        );
        check(
            "[x](//example.org/a)",
            "<p><a href=\"//example.org/a\">x</a></p>\n",
        );
    }

    #[test]
    fn only_data_images_load_others_become_links() {
        check(
            "![dot](data:image/png;base64,iVBORw0KGgo=)",
            "<p><img src=\"data:image/png;base64,iVBORw0KGgo=\" alt=\"dot\" /></p>\n",
        );
        check(
            "![svg](data:image/svg+xml;base64,PHN2Zz4=)",
            "<p><img src=\"data:image/svg+xml;base64,PHN2Zz4=\" alt=\"svg\" /></p>\n",
        );
        check(
            "![a chart](https://tracker.example/pixel.png)",
            "<p><a href=\"https://tracker.example/pixel.png\">a chart</a></p>\n",
        );
    }
}
