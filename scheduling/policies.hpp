#pragma once
// The policies behind make_policy, one file each (internal to scheduling/).

#include <memory>

#include "scheduling/policy.hpp"

namespace fedq::scheduling {

/// fixed, deadline-aware, hetlora (scheduling/simple_policies.cpp).
std::unique_ptr<policy> make_fixed_policy(const policy_options& o, policy_context ctx);
std::unique_ptr<policy> make_deadline_aware_policy(const policy_options& o, policy_context ctx);
std::unique_ptr<policy> make_hetlora_policy(const policy_options& o, policy_context ctx);

/// FAH-QLoRA with P1 solved by IPOPT (`fah`) or by bisection (`waterfill`).
std::unique_ptr<policy> make_fah_policy(const policy_options& o, policy_context ctx, bool ipopt);

/// fedq's own solver-free online scheduler.
std::unique_ptr<policy> make_online_policy(const policy_options& o, policy_context ctx);

} // namespace fedq::scheduling
