"""Every user-facing sentence, in one place, so it can be reviewed and translated (zh-CN).

Handlers render these with `t(key, **params)`; services use them for outbox messages.
Parameters are filled with `str.format`; values are HTML-escaped by the caller where
the message is sent with HTML parse mode.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

TEXTS: dict[str, str] = {
    # -- common ----------------------------------------------------------------------
    "start": (
        "您好！这里是泗水县“民意快车”。\n"
        "有什么困难或建议，直接告诉我们：诉求会第一时间转到承办单位，"
        "3个工作日内办理并回复您，办完后还会请您评价是否满意。"
    ),
    "help": (
        "使用说明：\n"
        "· 我要反映：用文字描述问题，可附照片和位置；\n"
        "· 我的诉求：查看办理进度；\n"
        "· 预约“民意5来听”：每月5日、25日民情日，15日群众接待日；\n"
        "· 随时发送 /cancel 可取消当前操作。"
    ),
    "unknown_input": "暂时无法处理这条消息。请发送 /start 查看可用功能。",
    "internal_error": "抱歉，系统出了点问题，您的操作没有丢失，请稍后再试。",
    "cmd_start": "开始 / 主菜单",
    "cmd_help": "使用帮助",
    "cmd_cancel": "取消当前操作",
    # -- domain errors -----------------------------------------------------------------
    "err_not_found": "未找到该工单。",
    "err_not_allowed": "您没有权限进行此操作。",
    "err_illegal_transition": "工单 {number} 当前状态为“{state}”，不能{action}。",
    "err_conflict": "工单刚刚被他人处理过，请刷新后再试。",
    "err_reason_required": "请填写原因。",
    "err_result_required": "请填写办理结果。",
    "err_unknown_unit": "承办单位不存在或已停用。",
    "err_text_required": "请用文字描述您的诉求。",
    # -- states and actions (Chinese names shown to people) -----------------------------
    "state_submitted": "已提交",
    "state_triage": "待分派",
    "state_assigned": "已派单",
    "state_accepted": "办理中",
    "state_resolved": "已办结待评价",
    "state_callback_due": "待回访",
    "state_closed": "已关闭",
    "action_submit": "提交",
    "action_triage": "转入待分派",
    "action_assign": "派单",
    "action_accept": "接单",
    "action_return": "退回",
    "action_escalate": "吹哨督办",
    "action_resolve": "办结",
    "action_rate": "评价",
    "action_reopen": "退回重办",
    "action_callback_due": "转人工回访",
    "action_callback": "记录回访",
    "action_close": "关闭",
    "rating_satisfied": "满意",
    "rating_basically_satisfied": "基本满意",
    "rating_unsatisfied": "不满意",
    "outcome_rated": "已评价",
    "outcome_no_callback": "未回访",
    "outcome_invalid": "无效诉求",
    "outcome_withdrawn": "群众撤回",
    # -- outbox messages ---------------------------------------------------------------
    "ob_assignment": (
        "【新派单】{number}\n承办单位：{unit}\n地点：{place}\n办理时限：{due}\n\n{text}"
    ),
    "ob_reassigned_resident": "您的诉求 {number} 已转交 {unit} 办理，办理时限：{due}。",
    "ob_triage": "【待分派】{number}\n{reason}\n\n{text}",
    "ob_accepted": "您的诉求 {number} 已由 {unit} 受理，正在办理，时限 {due}。",
    "ob_returned": "【退单待分派】{number}\n退回单位：{unit}\n原因：{reason}\n\n{text}",
    "ob_escalated": "【吹哨督办】{number}\n承办单位：{unit}\n原因：{reason}\n时限：{due}",
    "ob_resolved": (
        "您的诉求 {number} 已办结。\n办理结果：{result}\n\n"
        "请您对办理情况作出评价："
    ),
    "ob_reopened": (
        "【退回重办】{number}\n群众评价不满意（第{count}次）：{comment}\n"
        "新的办理时限：{due}"
    ),
    "ob_reopened_resident": "您的诉求 {number} 已退回 {unit} 重新办理，新的时限：{due}。",
    "ob_callback_due": "【待回访】{number}\n群众未在时限内评价，请电话回访。\n联系电话：{phone}",
    "ob_closed_resident": "您的诉求 {number} 已关闭（{outcome}）。{note}",
    "no_grid": "（未定位到网格）",
    "no_phone": "未留电话",
    "triage_low_confidence": "自动分类把握不足，请人工分派。",
    # -- CLI ---------------------------------------------------------------------------
    "cli_no_token": (
        "未配置 Telegram 机器人令牌：请在 config.toml 的 telegram.token 或环境变量 "
        "MINYI_BOT_TOKEN 中设置（见 config.example.toml）。"
    ),
    "cli_bad_token": "telegram.token 格式不正确：应为 BotFather 给出的 “123456:ABC…” 形式。",
}


def t(key: str, **params: object) -> str:
    """The text for `key` with `params` filled in; a missing key is a programming error."""
    return TEXTS[key].format(**params) if params else TEXTS[key]


def fmt_moment(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    """A moment as residents read it: 2026年10月10日 10:00 (local time)."""
    if moment is None:
        return "—"
    local = moment.astimezone(tz)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
