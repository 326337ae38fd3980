//! What a notebook from a stranger may put in the page: one allow-list of link schemes, image
//! types, elements and attributes, used by Markdown ([`crate::markdown`]) and by the page's
//! sanitiser of `text/html` outputs, so the two cannot disagree.
//!
//! The rule: nothing may run script or load anything by itself. Links keep `http:`,
//! `https:`, `mailto:` and scheme-less targets (in-page `#…`, relative paths, and
//! protocol-relative `//host/…`, which is an `http(s)` link); anything else becomes `#`.
//! Images show only from `data:` URLs of raster types and SVG. An SVG document shown through
//! an `<img>` runs no script and loads nothing (browsers render images in secure static
//! mode), so `data:image/svg+xml` is as safe there as a PNG; SVG *elements* in HTML are a
//! different matter and are dropped with their content.

/// Schemes a link may have.
pub const LINK_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// `data:image/…;base64,` types an image may have.
pub const DATA_IMAGE_TYPES: &[&str] = &["png", "jpeg", "jpg", "gif", "webp", "svg+xml"];

/// HTML elements kept (with [`ATTRIBUTES`], and a link's or image's own attribute checked by
/// [`is_safe_link`] / [`is_data_image`]); any other element is dropped with its content if
/// it is in [`DROPPED_WITH_CONTENT`], otherwise replaced by its children.
pub const ELEMENTS: &[&str] = &[
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "caption",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
    "var",
];

/// Elements whose content is not text to show.
pub const DROPPED_WITH_CONTENT: &[&str] = &[
    "script", "style", "template", "iframe", "object", "embed", "svg", "math", "noscript",
    "textarea", "select", "button", "form", "input", "link", "meta", "base", "title", "head",
];

/// Attributes kept on any kept element. No event handler, no `style` (CSS can load URLs),
/// no `src`/`href` but through the checks below.
pub const ATTRIBUTES: &[&str] = &["align", "alt", "colspan", "rowspan", "title", "open"];

/// Whether a link's target is harmless: a scheme of [`LINK_SCHEMES`], or none. Browsers
/// ignore tabs, newlines and other control characters anywhere in a URL and spaces around
/// it, so `java\tscript:` is `javascript:` to them; those are removed before looking.
/// (Character references such as `&#x09;` are decoded before this sees the text: by the
/// Markdown parser, and by the browser's HTML parser.)
pub fn is_safe_link(url: &str) -> bool {
    let squeezed: String = url
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let scheme = squeezed
        .split_once(':')
        .map(|(scheme, _)| scheme)
        .filter(|scheme| !scheme.contains(['/', '?', '#']));
    scheme.is_none_or(|scheme| LINK_SCHEMES.contains(&scheme))
}

/// Whether an image source is a `data:` URL of one of [`DATA_IMAGE_TYPES`], base64-encoded.
pub fn is_data_image(source: &str) -> bool {
    let lowered = source.trim_start().to_ascii_lowercase();
    DATA_IMAGE_TYPES
        .iter()
        .any(|kind| lowered.starts_with(&format!("data:image/{kind};base64,")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_harmless_schemes_and_scheme_less_targets() {
        for url in [
            "https://example.org/a",
            "HTTP://example.org",
            "mailto:someone@example.org",
            "#part",
            "notes/other.ipynb",
            "../data/file.csv?x=1#y",
            "//example.org/protocol-relative",
            "/absolute/path",
        ] {
            assert!(is_safe_link(url), "{url:?}");
        }
    }

    #[test]
    fn script_and_other_schemes_are_refused_in_any_spelling() {
        for url in [
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "java\nscript:alert(1)",
            "java\u{0}script:alert(1)",
            "jav&#x09;ascript:alert(1)".replace("&#x09;", "\t").as_str(),
            "\u{1}javascript:alert(1)",
            "vbscript:msgbox(1)",
            "data:text/html,<script>alert(1)</script>",
            "data:image/svg+xml;base64,PHN2Zz4=",
            "file:///etc/passwd",
            "blob:https://example.org/uuid",
            "JaVa%09script:alert(1)",
        ] {
            assert!(!is_safe_link(url), "{url:?}");
        }
    }

    #[test]
    fn images_show_only_from_base64_data_of_image_types() {
        for source in [
            "data:image/png;base64,iVBORw0KGgo=",
            "DATA:IMAGE/JPEG;base64,/9j/",
            " data:image/webp;base64,UklGR",
            // An SVG through <img> runs no script, even one that holds a <script>.
            "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciPjxzY3JpcHQ+YWxlcnQoMSk8L3NjcmlwdD48L3N2Zz4=",
        ] {
            assert!(is_data_image(source), "{source:?}");
        }
        for source in [
            "https://tracker.example/pixel.png",
            "//tracker.example/pixel.png",
            "pixel.png",
            "data:text/html;base64,PHNjcmlwdD4=",
            "data:image/svg+xml,<svg onload=alert(1)>",
            "javascript:alert(1)",
        ] {
            assert!(!is_data_image(source), "{source:?}");
        }
    }

    #[test]
    fn nothing_that_runs_or_loads_is_kept() {
        for element in [
            "script", "style", "iframe", "object", "embed", "svg", "math", "form",
        ] {
            assert!(!ELEMENTS.contains(&element), "{element}");
            assert!(DROPPED_WITH_CONTENT.contains(&element), "{element}");
        }
        for attribute in [
            "onerror",
            "onload",
            "style",
            "src",
            "href",
            "srcset",
            "formaction",
        ] {
            assert!(!ATTRIBUTES.contains(&attribute), "{attribute}");
        }
    }
}
