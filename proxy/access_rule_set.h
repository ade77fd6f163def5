#pragma once
// One listener's access rules as the proxy runs them: the first match
// decides, and each rule counts its hits, as does the final "no rule
// matched" refusal. Immutable but for the counters, which are atomic:
// sessions on every worker evaluate the same set.
//
// A reload builds a new set from the previous one. A rule that is the same
// as one before it (config::AccessRule::SameAs; its position may change)
// shares that rule's counter, so its hits go on counting without a gap,
// even from sessions still evaluating the old set; a changed or new rule
// starts at zero. The "no rule matched" counter always carries over.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/access_rule.h"
#include "proxy/access_rules.h"

namespace pgvalve::proxy {

class AccessRuleSet {
 public:
  AccessRuleSet(AccessListener listener, std::vector<config::AccessRule> rules,
                const AccessRuleSet* previous = nullptr);

  struct Decision {
    bool allowed = false;
    // The rule that decided; nullopt when none matched (refused).
    std::optional<size_t> rule;
  };
  // Counts a hit on the deciding rule (or on "no rule matched").
  Decision Evaluate(const AccessRequest& request) const;

  AccessListener listener() const { return listener_; }
  size_t size() const { return rules_.size(); }
  const config::AccessRule& rule(size_t index) const { return rules_[index]; }
  // Its name, or "proxy rule 2" for an unnamed one.
  const std::string& name(size_t index) const { return entries_[index].name; }
  uint64_t hits(size_t index) const { return entries_[index].hits->load(std::memory_order_relaxed); }
  uint64_t unmatched_hits() const { return unmatched_hits_->load(std::memory_order_relaxed); }

 private:
  using Counter = std::shared_ptr<std::atomic<uint64_t>>;
  // What the set keeps of each rule besides the rule itself.
  struct Entry {
    std::string name;
    Counter hits;
  };

  AccessListener listener_;
  std::vector<config::AccessRule> rules_;
  std::vector<Entry> entries_;  // one per rule, same order
  Counter unmatched_hits_;
};

}  // namespace pgvalve::proxy
