//===- TrainFlags.cpp - pmc-opt compile --train's optimizer flag ----------===//
#include "pmc/Driver/Compiler.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"

bool (::pmc::parseOptimizerSpec)(const std::string &text, TrainOptions &train,
                                 std::string &error) {
  llvm::StringRef rest(text);
  auto [kind, args] = rest.split(':');
  TrainOptions result;
  result.enabled = true;
  result.zero = train.zero;
  result.gradClip = train.gradClip;
  result.lossScale = train.lossScale;
  result.lossScaleGrowthInterval = train.lossScaleGrowthInterval;
  result.optimizer = kind.trim().str();
  bool sgd = result.optimizer == "sgd";
  if (!sgd && result.optimizer != "adam" && result.optimizer != "adamw") {
    error = "--optimizer " + text + ": expected sgd, adam or adamw, then ':' and key=value "
            "settings (e.g. adamw:lr=3e-4,weight_decay=0.1)";
    return false;
  }
  if (result.optimizer == "adamw")
    result.weightDecay = 0.01; // torch.optim.AdamW's default
  llvm::SmallVector<llvm::StringRef> parts;
  args.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (llvm::StringRef part : parts) {
    auto [key, value] = part.trim().split('=');
    double number = 0;
    bool isNumber = llvm::to_float(value, number);
    auto bad = [&](llvm::StringRef why) {
      error = "--optimizer " + text + ": '" + part.trim().str() + "' " + why.str();
      return false;
    };
    if (key == "lr" && isNumber && number > 0) {
      result.lr = number;
    } else if (key == "weight_decay" && isNumber && number >= 0) {
      result.weightDecay = number;
    } else if (sgd && key == "momentum" && isNumber && number >= 0) {
      result.momentum = number;
    } else if (sgd && key == "dampening" && isNumber) {
      result.dampening = number;
    } else if (sgd && key == "nesterov" && (value == "true" || value == "false")) {
      result.nesterov = value == "true";
    } else if (!sgd && key == "eps" && isNumber && number > 0) {
      result.eps = number;
    } else if (!sgd && key == "betas") {
      auto [b1, b2] = value.split('/');
      if (!llvm::to_float(b1, result.beta1) || !llvm::to_float(b2, result.beta2) ||
          result.beta1 < 0 || result.beta1 >= 1 || result.beta2 < 0 || result.beta2 >= 1)
        return bad("needs two numbers in [0, 1) as B1/B2, e.g. betas=0.9/0.95");
    } else {
      return bad(sgd ? "is not a setting of sgd (lr, momentum, dampening, nesterov, "
                       "weight_decay)"
                     : "is not a setting of " + result.optimizer +
                           " (lr, betas=B1/B2, eps, weight_decay)");
    }
  }
  if (result.nesterov && (result.momentum <= 0 || result.dampening != 0)) {
    error = "--optimizer " + text + ": nesterov needs momentum > 0 and dampening 0 "
            "(as torch.optim.SGD)";
    return false;
  }
  train = result;
  return true;
}
