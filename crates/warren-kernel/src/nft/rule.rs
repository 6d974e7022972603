//! Rules: a list of expressions appended to a chain.

use super::Chain;
use super::expr::Expr;
use super::wire::{Nla, attr};

/// A rule to append at the end of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The chain (and through it the table).
    pub chain: Chain,
    /// The expressions, evaluated in order.
    pub exprs: Vec<Expr>,
}

impl Rule {
    /// A rule of `exprs` for `chain`.
    pub fn new(chain: &Chain, exprs: Vec<Expr>) -> Rule {
        Rule {
            chain: chain.clone(),
            exprs,
        }
    }

    /// How errors name it.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.exprs.iter().map(Expr::name).collect();
        format!("rule in {} [{}]", self.chain.describe(), names.join(" "))
    }

    /// The NEWRULE body; `set_id` names the transaction id of sets added in the same batch.
    pub(crate) fn encode(&self, set_id: &dyn Fn(&str) -> Option<u32>) -> Nla {
        let mut n = Nla::new();
        n.str(attr::RULE_TABLE, &self.chain.table.name)
            .str(attr::RULE_CHAIN, &self.chain.name);
        n.nest(attr::RULE_EXPRESSIONS, |l| {
            for e in &self.exprs {
                e.encode(l, set_id);
            }
        });
        n
    }
}
