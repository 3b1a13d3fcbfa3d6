use super::*;
use serde_json::{json, Value};

#[test]
fn typed_widgets_serialize_as_the_protocol_expects_and_validate() {
    let card = Card::new([
        Title::new("Order #42").into(),
        Text::new("2 items").id("summary").weight("semibold").into(),
        Row::new([
            Button::new("Approve")
                .style("primary")
                .action(ActionConfig::new("orders.approve").payload(json!({"id": 42})))
                .into(),
            Button::new("Reject").action(ActionConfig::new("orders.reject").sync()).into(),
        ])
        .gap(json!(2))
        .into(),
    ])
    .size("md");
    let value = Value::from(WidgetRoot::from(card));
    assert_eq!(value["type"], "Card");
    assert_eq!(
        value["children"][1],
        json!({"type": "Text", "id": "summary", "value": "2 items", "weight": "semibold"})
    );
    assert_eq!(value["children"][2]["type"], "Row");
    assert_eq!(
        value["children"][2]["children"][0]["onClickAction"],
        json!({"type": "orders.approve", "payload": {"id": 42}})
    );
    assert_eq!(value["children"][2]["children"][1]["onClickAction"]["streaming"], false);
    validate_widget(&value).unwrap();
    let back: WidgetRoot = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(Value::from(back), value);
    let list =
        Value::from(WidgetRoot::from(ListView::new([ListViewItem::new([Text::new("a").into()])])));
    validate_widget(&list).unwrap();
    let other: Component =
        serde_json::from_value(json!({"type": "DatePicker", "name": "when"})).unwrap();
    assert!(matches!(other, Component::Other(_)));
}

#[test]
fn invalid_trees_are_refused_with_the_place() {
    for (widget, at) in [
        (json!("Card"), "$"),
        (json!({"type": "Modal"}), "$"),
        (json!({"type": "Card", "children": "not a list"}), "$.children"),
        (json!({"type": "Card", "children": [{"value": "no type"}]}), "$.children[0]"),
        (json!({"type": "Card", "children": [{"type": "Text"}]}), "$.children[0].value"),
        (
            json!({"type": "Card", "children": [{"type": "Text", "value": 3}]}),
            "$.children[0].value",
        ),
        (
            json!({"type": "Card", "children": [{"type": "Button", "onClickAction": {"payload": 1}}]}),
            "$.children[0].onClickAction",
        ),
        (
            json!({"type": "Card", "children": [], "confirm": {"label": "OK", "action": {}}}),
            "$.confirm.action",
        ),
        (json!({"type": "Card", "id": 7, "children": []}), "$.id"),
        (
            json!({"type": "Basic", "children": [{"type": "Box", "children": [{"type": "Image"}]}]}),
            "$.children[0].children[0].src",
        ),
    ] {
        let err = validate_widget(&widget).unwrap_err();
        assert_eq!(err.path, at, "{widget}: {err}");
    }
    let mut deep = json!({"type": "Text", "value": "x"});
    for _ in 0..40 {
        deep = json!({"type": "Box", "children": [deep]});
    }
    assert!(validate_widget(&json!({"type": "Basic", "children": [deep]})).is_err());
    // dynamic roots and components the schema allows
    validate_widget(&json!({"type": "Basic"})).unwrap();
    validate_widget(&json!({"type": "Card", "children": [{"type": "Table", "children": {"type": "Table.Row"}}], "extra": 1})).unwrap();
    assert!(
        looks_like_widget(&json!({"type": "ListView"}))
            && !looks_like_widget(&json!({"type": "task"}))
    );
}

#[test]
fn streaming_edits_apply_to_the_tree() {
    let mut root = json!({"type": "Card", "children": [{"type": "Row", "children": [{"type": "Markdown", "id": "m", "value": "He"}]}]});
    assert!(append_text(&mut root, "m", "llo", false));
    assert_eq!(root["children"][0]["children"][0]["value"], "Hello");
    assert_eq!(root["children"][0]["children"][0]["streaming"], true);
    assert!(replace_component(&mut root, "m", json!({"type": "Text", "id": "m", "value": "Done"})));
    assert_eq!(root["children"][0]["children"][0]["type"], "Text");
    assert!(!append_text(&mut root, "nope", "x", true));
}
