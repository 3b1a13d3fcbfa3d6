//! `docs/settings.md`, generated from the declarations.

use crate::catalog::ALL;
use crate::setting::{Group, Kind};

fn kind(kind: Kind) -> String {
    match kind {
        Kind::Flag => "flag".into(),
        Kind::Text => "text".into(),
        Kind::Secret => "secret".into(),
        Kind::Url => "URL".into(),
        Kind::List => "list".into(),
        Kind::Json => "JSON".into(),
        Kind::Choice(options) => {
            options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(" \\| ")
        }
        Kind::Number { unit, min, max } => format!("{unit}, {min}–{max}"),
    }
}

/// The settings document: one table per group, in declaration order.
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- Generated from shared/settings/src/catalog.rs by `make settings-doc`; \
         a test fails when this file and the code disagree. -->\n\
         # Settings\n\n\
         Every setting is an environment variable of the functions, declared once in\n\
         [`shared/settings/src/catalog.rs`](../shared/settings/src/catalog.rs) with its type,\n\
         default and bounds. A value that does not parse, or is out of bounds, stops the\n\
         function at start with a message naming the variable. The SAM parameter that sets a\n\
         variable is in brackets.\n",
    );
    for group in Group::ALL {
        out.push_str(&format!("\n## {}\n\n", group.title()));
        out.push_str(
            "| variable [SAM parameter] | type | default | meaning |\n|---|---|---|---|\n",
        );
        for s in ALL.iter().filter(|s| s.group == group) {
            let name = match s.parameter {
                Some(p) => format!("`{}` [{p}]", s.name),
                None => format!("`{}`", s.name),
            };
            let default =
                if s.default.is_empty() { "unset".into() } else { format!("`{}`", s.default) };
            out.push_str(&format!("| {name} | {} | {default} | {} |\n", kind(s.kind), s.doc));
        }
    }
    out.push_str(
        "\n## Outbound URLs\n\n\
         Outbound URLs (the settings of type URL, and each MCP server's `url`) must be\n\
         `https://`. Plain `http://` is accepted only to a loopback host (`localhost`,\n\
         `127.0.0.0/8`, `::1`) and only in local mode: outside Lambda (the plain HTTP server) or\n\
         under `make dev` (`CHATKIT_DEV_AUTH=1`). Anything else stops the function at start-up\n\
         with a message naming the variable.\n",
    );
    out
}
