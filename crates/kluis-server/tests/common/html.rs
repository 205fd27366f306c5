//! Reading the dashboard's pages as a browser's accessibility tree would: controls found by
//! their `<label>`, elements by id, attributes decoded. Not every test uses every helper.
#![allow(dead_code)]

/// HTML's character references (named, decimal and hex, as escapers write them) decoded.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether `page` shows `text` (which holds markup) as text: escaped, never as markup.
pub fn shows_as_text(page: &str, text: &str) -> bool {
    let named = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let numeric = text
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;");
    !page.contains(text) && (page.contains(&named) || page.contains(&numeric))
}

/// The ids of the controls whose `<label for=…>` reads `text` (tags inside the label ignored).
pub fn labelled(page: &str, text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = page;
    while let Some(at) = rest.find("<label for=\"") {
        rest = &rest[at + "<label for=\"".len()..];
        let Some(quote) = rest.find('"') else { break };
        let id = &rest[..quote];
        let Some(open_end) = rest.find('>') else {
            break;
        };
        let Some(close) = rest.find("</label>") else {
            break;
        };
        let inner = strip_tags(&rest[open_end + 1..close]);
        if unescape(inner.trim()) == text {
            ids.push(unescape(id));
        }
    }
    ids
}

/// The one control labelled `text`; panics (failing the test) when there is none or several.
pub fn control(page: &str, text: &str) -> String {
    let ids = labelled(page, text);
    assert_eq!(
        ids.len(),
        1,
        "one control labelled {text:?}: {ids:?}\n{page}"
    );
    let id = ids.into_iter().next().unwrap();
    assert!(
        tag(page, &id).is_some(),
        "the label {text:?} points at {id:?}, which is not on the page"
    );
    id
}

/// The opening tag of the element with `id`.
pub fn tag<'p>(page: &'p str, id: &str) -> Option<&'p str> {
    let needle = format!(" id=\"{id}\"");
    let at = page.find(&needle)?;
    let start = page[..at].rfind('<')?;
    let end = at + page[at..].find('>')?;
    Some(&page[start..=end])
}

/// An attribute of an opening tag, decoded; `Some("")` for a bare one (`checked`).
pub fn attr(tag: &str, name: &str) -> Option<String> {
    let with_value = format!(" {name}=\"");
    if let Some(at) = tag.find(&with_value) {
        let rest = &tag[at + with_value.len()..];
        return Some(unescape(&rest[..rest.find('"')?]));
    }
    let bare = [format!(" {name}>"), format!(" {name} ")];
    bare.iter()
        .any(|b| tag.contains(b.as_str()))
        .then(String::new)
}

/// The text inside the element with `id` (up to its first closing tag of the same name).
pub fn text_of(page: &str, id: &str) -> Option<String> {
    let open = tag(page, id)?;
    let name: String = open[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let start = page.find(open)? + open.len();
    let end = start + page[start..].find(&format!("</{name}>"))?;
    Some(unescape(strip_tags(&page[start..end]).trim()))
}

/// The `value` of the control labelled `text`.
pub fn value_of(page: &str, text: &str) -> String {
    let id = control(page, text);
    attr(tag(page, &id).unwrap(), "value").unwrap_or_default()
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in html.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}
