//===- PMCInterfaces.td - interfaces of pmc ops -----------------*- tablegen -*-===//
#ifndef PMC_INTERFACES_TD
#define PMC_INTERFACES_TD

include "mlir/IR/OpBase.td"

def PMC_ShardingRuleOpInterface : OpInterface<"ShardingRuleOpInterface"> {
  let cppNamespace = "::mlir::pmc";
  let description = [{
    An op's factor-based sharding rule (see ShardingRule.h). Propagation,
    partitioning and the cost model read only this: an op is parallelized by
    declaring its rule once. Rules are attached as external models in
    lib/Dialect/PMC/IR/ShardingRules.cpp.
  }];
  let methods = [
    InterfaceMethod<"Returns the op's sharding rule.",
                    "::mlir::pmc::ShardingRule", "getShardingRule", (ins)>,
  ];
}

#endif // PMC_INTERFACES_TD
