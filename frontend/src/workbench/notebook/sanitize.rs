//! `text/html` outputs, shown inline like Jupyter does but only after sanitising: a notebook may
//! come from a stranger. The browser parses the HTML into an inert document (nothing in it
//! runs or loads), and only allow-listed elements and attributes are copied into the page —
//! no script, no event handler, no style (CSS can load URLs), no link but `http(s)`,
//! `mailto` and in-page ones, no image but a `data:` one — so nothing can run, reach the
//! user's files or send anything.

use wasm_bindgen::JsCast;

/// Elements kept (with their allowed attributes); anything else is dropped with its content
/// if it is in [`DROPPED_WITH_CONTENT`], otherwise replaced by its children.
const KEPT: &[&str] = &[
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
const DROPPED_WITH_CONTENT: &[&str] = &[
    "script", "style", "template", "iframe", "object", "embed", "svg", "math", "noscript",
    "textarea", "select", "button", "form", "input", "link", "meta", "base", "title", "head",
];

/// Attributes kept on any kept element (links and images have their own rules).
const ATTRIBUTES: &[&str] = &["align", "alt", "colspan", "rowspan", "title", "open"];

/// The sanitised HTML as an element ready to put in the page (a `div`), or `None` if the
/// browser could not parse it.
pub fn sanitized(html: &str) -> Option<web_sys::Element> {
    let document = web_sys::window()?.document()?;
    let parser = web_sys::DomParser::new().ok()?;
    let inert = parser
        .parse_from_string(html, web_sys::SupportedType::TextHtml)
        .ok()?;
    let body = inert.body()?;
    let out = document.create_element("div").ok()?;
    copy_children(&document, &body, &out);
    Some(out)
}

fn copy_children(document: &web_sys::Document, from: &web_sys::Node, to: &web_sys::Element) {
    let children = from.child_nodes();
    for index in 0..children.length() {
        let Some(child) = children.item(index) else {
            continue;
        };
        match child.node_type() {
            web_sys::Node::TEXT_NODE => {
                let text = document.create_text_node(&child.text_content().unwrap_or_default());
                let _ = to.append_child(&text);
            }
            web_sys::Node::ELEMENT_NODE => {
                let Ok(element) = child.dyn_into::<web_sys::Element>() else {
                    continue;
                };
                let name = element.local_name();
                if DROPPED_WITH_CONTENT.contains(&name.as_str()) {
                    continue;
                }
                if !KEPT.contains(&name.as_str()) {
                    copy_children(document, &element, to);
                    continue;
                }
                let Ok(copy) = document.create_element(&name) else {
                    continue;
                };
                copy_attributes(&element, &copy, &name);
                copy_children(document, &element, &copy);
                let _ = to.append_child(&copy);
            }
            // Comments, processing instructions and the rest show nothing.
            _ => {}
        }
    }
}

fn copy_attributes(from: &web_sys::Element, to: &web_sys::Element, name: &str) {
    for attribute in ATTRIBUTES {
        if let Some(value) = from.get_attribute(attribute) {
            let _ = to.set_attribute(attribute, &value);
        }
    }
    match name {
        "a" => {
            if let Some(href) = from.get_attribute("href").filter(|href| safe_link(href)) {
                let _ = to.set_attribute("href", &href);
                let _ = to.set_attribute("target", "_blank");
                let _ = to.set_attribute("rel", "noopener noreferrer");
            }
        }
        "img" => {
            if let Some(source) = from
                .get_attribute("src")
                .filter(|source| data_image(source))
            {
                let _ = to.set_attribute("src", &source);
            }
        }
        _ => {}
    }
}

/// `http:`, `https:`, `mailto:` or an in-page link; browsers ignore whitespace and control
/// characters in a scheme, so those are removed before looking.
fn safe_link(href: &str) -> bool {
    let squeezed: String = href
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    squeezed.starts_with('#')
        || ["http://", "https://", "mailto:"]
            .iter()
            .any(|scheme| squeezed.starts_with(scheme))
}

fn data_image(source: &str) -> bool {
    let lowered = source.trim_start().to_ascii_lowercase();
    ["png", "jpeg", "jpg", "gif", "webp"]
        .iter()
        .any(|kind| lowered.starts_with(&format!("data:image/{kind};base64,")))
}
