"""Pure classification of a request to a unit: jieba tokens + keyword table (no DB, no aiogram).

The router itself is built by the routing issue; services hand it text and org data and
get a decision back (unit, confidence, explanation) or "triage".
"""
