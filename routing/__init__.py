"""Pure classification of a request to a unit: jieba tokens + keyword table (no DB, no aiogram).

Services hand it text and org data (place names) and get a `classifier.Decision` back:
target, unit, confidence, runner-up, explanation, or triage.
"""
