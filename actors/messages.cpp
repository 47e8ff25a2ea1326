#include "actors/messages.hpp"

namespace fedq::actors {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<scheduling::telemetry>("fedq::telemetry");
  cfg.add_message_type<scheduling::client_view>("fedq::client_view");
  cfg.add_message_type<scheduling::round_feedback>("fedq::round_feedback");
  cfg.add_message_type<scheduling::plan_input>("fedq::plan_input");
  cfg.add_message_type<scheduling::assignment>("fedq::assignment");
  cfg.add_message_type<scheduling::round_plan>("fedq::round_plan");
  cfg.add_message_type<blob>("fedq::blob");
  cfg.add_message_type<train_task>("fedq::train_task");
  cfg.add_message_type<client_update>("fedq::client_update");
  cfg.add_message_type<aggregate_request>("fedq::aggregate_request");
  cfg.add_message_type<aggregate_result>("fedq::aggregate_result");
  cfg.add_message_type<buffer_request>("fedq::buffer_request");
  cfg.add_message_type<late_request>("fedq::late_request");
  cfg.add_message_type<late_result>("fedq::late_result");
  cfg.add_message_type<run_summary>("fedq::run_summary");
}

std::string error_reason(caf::actor_system& sys, const caf::error& e) {
  const auto& ctx = e.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return sys.render(e);
}

} // namespace fedq::actors
