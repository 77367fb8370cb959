//! Workflow command formatting: `::name key=value::data`, escaped as the runner unescapes.

/// Escapes the data part: `%` first, or the escapes themselves would be escaped again.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value, which additionally must not contain the `:` and `,` that
/// delimit properties.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub(super) fn command(name: &str, properties: &[(&str, &str)], data: &str) -> String {
    let properties: Vec<String> = properties
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={}", escape_property(value)))
        .collect();
    let separator = if properties.is_empty() { "" } else { " " };
    format!(
        "::{name}{separator}{}::{}",
        properties.join(","),
        escape_data(data)
    )
}

#[cfg(test)]
mod tests {
    // Test tables spell their row types out in full.
    #![allow(clippy::type_complexity)]
    use super::*;

    #[test]
    fn formats_like_the_toolkit() {
        let cases: &[(&str, &[(&str, &str)], &str, &str)] = &[
            ("add-mask", &[], "ghs_abc", "::add-mask::ghs_abc"),
            (
                "error",
                &[("title", "a: b, c")],
                "x%y\r\nz",
                "::error title=a%3A b%2C c::x%25y%0D%0Az",
            ),
            ("warning", &[("title", "")], "w", "::warning::w"),
            ("endgroup", &[], "", "::endgroup::"),
            ("debug", &[], "100%0A", "::debug::100%250A"),
        ];
        for (name, properties, data, expected) in cases {
            assert_eq!(command(name, properties, data), *expected);
        }
    }
}
