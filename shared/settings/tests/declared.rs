//! The declarations and the code agree: `docs/settings.md` is what the declarations generate,
//! every `CHATKIT_*` name the code mentions is declared, only this crate reads the
//! environment, and every declared default parses within its bounds.

use std::path::{Path, PathBuf};

use chatkit_settings::{Kind, ALL};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && name != "target" && name != "tests" {
            rust_sources(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_settings_document_is_generated_from_the_declarations() {
    let path = repo().join("docs/settings.md");
    let generated = chatkit_settings::markdown();
    if std::env::var_os("UPDATE_SETTINGS_DOC").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/settings.md differs from the declarations in shared/settings/src/catalog.rs: \
         run `make settings-doc` and commit the result"
    );
}

#[test]
fn every_setting_the_code_names_is_declared_and_only_this_crate_reads_the_environment() {
    let mut files = Vec::new();
    for dir in ["shared", "functions"] {
        rust_sources(&repo().join(dir), &mut files);
    }
    let declared: Vec<&str> = ALL.iter().map(|s| s.name).collect();
    let mut undeclared = Vec::new();
    let mut readers = Vec::new();
    // this crate, and the test scaffolding (its own variables are not the functions' settings)
    let skip = [repo().join("shared/settings"), repo().join("shared/testkit")];
    for file in files.iter().filter(|f| !skip.iter().any(|dir| f.starts_with(dir))) {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (i, _) in code.match_indices("CHATKIT_") {
            let name: String = code[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if !declared.contains(&name.as_str()) {
                undeclared.push(format!("{}: {name}", file.display()));
            }
        }
        if code.contains("env::var(") {
            readers.push(file.display().to_string());
        }
    }
    assert!(undeclared.is_empty(), "settings named but not declared: {undeclared:#?}");
    assert!(readers.is_empty(), "read the environment through chatkit-settings: {readers:#?}");
}

#[test]
fn declarations_are_unique_and_their_defaults_parse() {
    let none = |_: &str| None;
    for (i, s) in ALL.iter().enumerate() {
        assert!(!ALL[..i].iter().any(|o| o.name == s.name), "{} is declared twice", s.name);
        assert!(!s.doc.is_empty(), "{} has no doc line", s.name);
        match s.kind {
            Kind::Number { .. } => assert!(s.number::<u64>(&none).is_ok(), "{}", s.name),
            Kind::Flag => assert!(s.flag(&none).is_ok(), "{}", s.name),
            Kind::Choice(_) => assert!(s.choice(&none).is_ok(), "{}", s.name),
            Kind::Url if !s.default.is_empty() => assert!(s.url(&none).is_ok(), "{}", s.name),
            _ => {}
        }
    }
}

#[test]
fn values_are_checked_against_their_declaration() {
    use chatkit_settings::catalog::{CANCEL_POLL_MS, DEV_AUTH, MODEL_API, MODEL_MAX_RETRIES};
    let get = |name: &str| match name {
        "CHATKIT_MODEL_MAX_RETRIES" => Some("11".to_string()),
        "CHATKIT_CANCEL_POLL_MS" => Some(" 250 ".to_string()),
        "CHATKIT_DEV_AUTH" => Some("maybe".to_string()),
        "CHATKIT_MODEL_API" => Some("grpc".to_string()),
        _ => None,
    };
    let err = MODEL_MAX_RETRIES.number::<u32>(&get).unwrap_err();
    assert_eq!(err.variable, "CHATKIT_MODEL_MAX_RETRIES");
    assert!(err.to_string().contains("0 to 10"), "{err}");
    assert_eq!(CANCEL_POLL_MS.millis(&get).unwrap().as_millis(), 250);
    assert!(DEV_AUTH.flag(&get).unwrap_err().to_string().contains("CHATKIT_DEV_AUTH"));
    assert!(MODEL_API.choice(&get).unwrap_err().message.contains("`chat_completions`"));
}
