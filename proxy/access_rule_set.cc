#include "proxy/access_rule_set.h"

namespace pgvalve::proxy {

AccessRuleSet::AccessRuleSet(AccessListener listener, std::vector<config::AccessRule> rules,
                             const AccessRuleSet* previous)
    : listener_(listener), rules_(std::move(rules)) {
  // Each earlier counter goes to at most one rule: two equal rules keep
  // two counters, as they had before.
  std::vector<bool> taken(previous ? previous->entries_.size() : 0, false);
  for (size_t i = 0; i < rules_.size(); ++i) {
    Counter hits;
    for (size_t j = 0; j < taken.size() && !hits; ++j) {
      if (!taken[j] && previous->rules_[j].SameAs(rules_[i])) {
        taken[j] = true;
        hits = previous->entries_[j].hits;
      }
    }
    if (!hits) hits = std::make_shared<std::atomic<uint64_t>>(0);
    entries_.push_back(Entry{config::RuleName(rules_[i], ListenerName(listener), i), hits});
  }
  unmatched_hits_ = previous ? previous->unmatched_hits_ : std::make_shared<std::atomic<uint64_t>>(0);
}

AccessRuleSet::Decision AccessRuleSet::Evaluate(const AccessRequest& request) const {
  const std::optional<size_t> match = FirstMatchingRule(rules_, request);
  if (!match) {
    unmatched_hits_->fetch_add(1, std::memory_order_relaxed);
    return Decision{.allowed = false, .rule = std::nullopt};
  }
  entries_[*match].hits->fetch_add(1, std::memory_order_relaxed);
  return Decision{.allowed = rules_[*match].action == config::RuleAction::kAllow, .rule = match};
}

}  // namespace pgvalve::proxy
