//! Your agent: the one place to add tools, widgets and actions, or to replace the responder
//! (docs/agent.md). The `turns` and `chatkit` functions hand [`App::responder`] the default
//! agent with its model wired (the key from Secrets Manager and its rotation, or Bedrock with
//! the function's role), its MCP servers and their service tokens: what you add here runs
//! with all of that, and no binary or wiring changes.

use std::sync::Arc;

use chatkit_agent::Agent;
use chatkit_server::Responder;
use chatkit_settings::catalog::EXAMPLE_ORDERS;
use chatkit_settings::{Lookup, SettingError};

/// What your agent is configured with, read and checked at start (a malformed setting
/// stops the function with a message naming it).
#[derive(Clone, Debug, Default)]
pub struct App {
    /// `CHATKIT_EXAMPLE_ORDERS`: the worked widget and action example.
    pub orders_example: bool,
}

impl App {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(&chatkit_settings::env)
    }

    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        Ok(Self { orders_example: EXAMPLE_ORDERS.flag(get)? })
    }

    // app: start
    /// The responder the functions serve. Add tools with `agent.with_tool(…)`, action
    /// handlers with `agent.with_action(…)`, or return your own `Responder` instead.
    pub fn responder(&self, agent: Agent) -> Arc<dyn Responder> {
        let mut agent = agent;
        if self.orders_example {
            agent = chatkit_example_orders::with_orders(agent);
        }
        Arc::new(agent)
    }
    // app: end
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_show_this_files_code() {
        let source = include_str!("lib.rs");
        let start = source.find("    // app: start\n").unwrap() + "    // app: start\n".len();
        let block = &source[start..source.find("    // app: end\n").unwrap()];
        let docs = include_str!("../../../docs/agent.md");
        assert!(docs.contains(&format!("```rust,ignore\n{block}```")), "docs/agent.md's copy of App::responder differs from shared/app/src/lib.rs: copy it over");
    }

    #[test]
    fn the_orders_example_is_behind_its_setting() {
        let on = super::App::from_lookup(&|name: &str| {
            (name == "CHATKIT_EXAMPLE_ORDERS").then(|| "1".to_string())
        })
        .unwrap();
        assert!(on.orders_example);
        let off = super::App::from_lookup(&|_: &str| None).unwrap();
        assert!(!off.orders_example);
        assert!(super::App::from_lookup(&|_: &str| Some("maybe".to_string())).is_err());
    }
}
