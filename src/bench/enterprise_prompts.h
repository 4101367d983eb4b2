// The built-in enterprise set: Chinese prompts written for hanlin that stand for what a company
// asks a private model: contract review, questions on internal policy, report summaries, and
// requests that should end in a tool call.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace hanlin::bench {

enum class EnterpriseTask { kContractReview, kPolicyQuestion, kReportSummary, kToolCall };

struct EnterprisePrompt {
  EnterpriseTask task;
  std::string_view text;
  int64_t max_tokens;  // a sensible answer length for the task
};

std::span<const EnterprisePrompt> enterprise_prompts();

// The OpenAI `tools` list (a JSON array) sent with kToolCall items on the chat endpoint:
// looking up an employee, creating a ticket, checking leave balance, booking a meeting room.
std::string_view enterprise_tools_json();

}  // namespace hanlin::bench
