//! `text/html` outputs, shown inline like Jupyter does but only after sanitising: a notebook may
//! come from a stranger. The browser parses the HTML into an inert document (nothing in it
//! runs or loads), and only what `notebook::safe` allows is copied into the page (the same
//! allow-list as Markdown's) — no script, no event handler, no style, no link with a
//! scheme but `http(s)` and `mailto`, no image but a `data:` one — so nothing can run,
//! reach the user's files or send anything.

use notebook::safe::{ATTRIBUTES, DROPPED_WITH_CONTENT, ELEMENTS, is_data_image, is_safe_link};
use wasm_bindgen::JsCast;

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
                if !ELEMENTS.contains(&name.as_str()) {
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
            if let Some(href) = from.get_attribute("href").filter(|href| is_safe_link(href)) {
                let _ = to.set_attribute("href", &href);
                let _ = to.set_attribute("target", "_blank");
                let _ = to.set_attribute("rel", "noopener noreferrer");
            }
        }
        "img" => {
            if let Some(source) = from
                .get_attribute("src")
                .filter(|source| is_data_image(source))
            {
                let _ = to.set_attribute("src", &source);
            }
        }
        _ => {}
    }
}
