"""The guide: a use (code, chat, multi-step problems, research) -> the variant for it, why, and the
best catalog file for this machine with the next step up. Plain Python: `ui/guide` shows it."""

from explorer.guide.pick import Candidate, ChatPane, OpenInChat, Pick, StepUp, pick, pick_all
from explorer.guide.uses import USES, Use, UseInfo, VariantChoice, use_info

__all__ = ["USES", "Candidate", "ChatPane", "OpenInChat", "Pick", "StepUp", "Use", "UseInfo", "VariantChoice",
           "pick", "pick_all", "use_info"]
