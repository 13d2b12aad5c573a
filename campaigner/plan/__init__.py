"""The plan: what apply would send, built as a pure stream of the inputs; the saved plan; its views; ids.

Pure core: files (and a read-only view of the ledger, passed in) in, the plan out.
"""

from campaigner.plan.build import Plan, PlannedMessage, ScenarioChange, build_plan
from campaigner.plan.ids import bulk_id
from campaigner.plan.stream import MessageStream

__all__ = ["MessageStream", "Plan", "PlannedMessage", "ScenarioChange", "build_plan", "bulk_id"]
