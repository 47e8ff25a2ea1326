// P1 through IPOPT: the baseline's convex solver. Variables x = (r_1..r_N, T).
#include "scheduling/p1.hpp"

#include <algorithm>
#include <stdexcept>

#include <coin/IpIpoptApplication.hpp>
#include <coin/IpSolveStatistics.hpp>
#include <coin/IpTNLP.hpp>

namespace fedq::scheduling {

namespace {

using Ipopt::Index;
using Ipopt::Number;

class p1_nlp : public Ipopt::TNLP {
public:
  p1_nlp(const p1_problem& p, double total) : p_(p), total_(total), n_(static_cast<Index>(p.a.size())) {}

  std::vector<double> x;  // the solution, when solved

  bool get_nlp_info(Index& n, Index& m, Index& nnz_jac, Index& nnz_h, IndexStyleEnum& style) override {
    n = n_ + 1;
    m = n_ + 1;
    nnz_jac = 3 * n_; // row i < N: (r_i, T); row N: every r_i
    nnz_h = 0;        // linear program
    style = C_STYLE;
    return true;
  }

  bool get_bounds_info(Index, Number* x_l, Number* x_u, Index, Number* g_l, Number* g_u) override {
    for (Index i = 0; i < n_; ++i) {
      x_l[i] = p_.r_min;
      x_u[i] = p_.cap[i];
      g_l[i] = p_.a[i]; // T - b_i r_i >= a_i
      g_u[i] = 2e19;
    }
    x_l[n_] = -2e19;
    x_u[n_] = 2e19;
    g_l[n_] = g_u[n_] = total_;
    return true;
  }

  bool get_starting_point(Index, bool, Number* x0, bool, Number*, Number*, Index, bool, Number*) override {
    double t = -2e19;
    for (Index i = 0; i < n_; ++i) {
      x0[i] = std::clamp(total_ / n_, p_.r_min, p_.cap[i]);
      t = std::max(t, p_.a[i] + p_.b[i] * x0[i]);
    }
    x0[n_] = t;
    return true;
  }

  bool eval_f(Index, const Number* x0, bool, Number& f) override {
    f = x0[n_];
    return true;
  }

  bool eval_grad_f(Index, const Number*, bool, Number* g) override {
    std::fill(g, g + n_, 0.0);
    g[n_] = 1.0;
    return true;
  }

  bool eval_g(Index, const Number* x0, bool, Index, Number* g) override {
    double s = 0;
    for (Index i = 0; i < n_; ++i) {
      g[i] = x0[n_] - p_.b[i] * x0[i];
      s += x0[i];
    }
    g[n_] = s;
    return true;
  }

  bool eval_jac_g(Index, const Number*, bool, Index, Index, Index* row, Index* col,
                  Number* v) override {
    if (v == nullptr) {
      Index k = 0;
      for (Index i = 0; i < n_; ++i) {
        row[k] = i, col[k++] = i;
        row[k] = i, col[k++] = n_;
      }
      for (Index i = 0; i < n_; ++i)
        row[k] = n_, col[k++] = i;
      return true;
    }
    Index k = 0;
    for (Index i = 0; i < n_; ++i) {
      v[k++] = -p_.b[i];
      v[k++] = 1.0;
    }
    for (Index i = 0; i < n_; ++i)
      v[k++] = 1.0;
    return true;
  }

  bool eval_h(Index, const Number*, bool, Number, Index, const Number*, bool, Index, Index*,
              Index*, Number*) override {
    return true; // no nonzeros
  }

  void finalize_solution(Ipopt::SolverReturn, Index n, const Number* x0, const Number*,
                         const Number*, Index, const Number*, const Number*, Number,
                         const Ipopt::IpoptData*, Ipopt::IpoptCalculatedQuantities*) override {
    x.assign(x0, x0 + n);
  }

private:
  const p1_problem& p_;
  double total_;
  Index n_;
};

} // namespace

p1_solution solve_p1_ipopt(const p1_problem& p) {
  // Validation and the feasible budget are shared with the exact solver.
  double total = p1_feasible_total(p);
  if (p.a.empty() || p.b.size() != p.a.size() || p.cap.size() != p.a.size())
    throw std::invalid_argument("P1: a, b and cap must have one entry per client (and one client)");
  Ipopt::SmartPtr<p1_nlp> nlp = new p1_nlp(p, total);
  Ipopt::SmartPtr<Ipopt::IpoptApplication> app = IpoptApplicationFactory();
  app->Options()->SetIntegerValue("print_level", 0);
  app->Options()->SetStringValue("sb", "yes");
  app->Options()->SetNumericValue("tol", 1e-10);
  app->Options()->SetStringValue("hessian_constant", "yes");
  app->Options()->SetStringValue("jac_c_constant", "yes");
  app->Options()->SetStringValue("jac_d_constant", "yes");
  app->Options()->SetStringValue("mu_strategy", "adaptive");
  if (app->Initialize() != Ipopt::Solve_Succeeded)
    throw std::runtime_error("P1: IPOPT failed to initialize");
  auto status = app->OptimizeTNLP(Ipopt::SmartPtr<Ipopt::TNLP>(GetRawPtr(nlp)));
  if (status != Ipopt::Solve_Succeeded && status != Ipopt::Solved_To_Acceptable_Level)
    throw std::runtime_error("P1: IPOPT did not converge (status " + std::to_string(status) + ")");
  p1_solution s;
  s.status = status == Ipopt::Solve_Succeeded ? "solved" : "acceptable";
  if (auto stats = app->Statistics(); IsValid(stats))
    s.iterations = static_cast<uint32_t>(stats->IterationCount());
  s.ranks.assign(nlp->x.begin(), nlp->x.end() - 1);
  for (size_t i = 0; i < s.ranks.size(); ++i)
    s.ranks[i] = std::clamp(s.ranks[i], p.r_min, p.cap[i]);
  s.round_s = p1_round_time(p, s.ranks);
  return s;
}

} // namespace fedq::scheduling
