"""Every user-facing sentence, in one place, so it can be reviewed and translated (zh-CN).

Handlers render these with `t(key, **params)`; services use them for outbox messages.
Every message is sent with HTML parse mode, so `t` escapes every parameter here, in one
place: a name, a description or a reason with `<` or `&` arrives as written and never as
markup. Text that is already HTML (a part escaped and clipped by `esc`, another `t`
result, a list of lines built from them) is marked `Html` and inserted as is: that is the
one, named way to put markup into a message. `plain` is for texts Telegram does not parse
(button labels, callback alerts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from html import escape
from zoneinfo import ZoneInfo


class Html(str):
    """A string that is already HTML for Telegram's parse mode: `t` inserts it as is."""

    __slots__ = ()


def esc(text: str, limit: int) -> Html:
    """User text escaped for HTML and clipped to at most `limit` characters once escaped
    (never a cut entity): clip each part, so a whole message never has to be cut."""
    escaped = escape(text, quote=False)
    if len(escaped) <= limit:
        return Html(escaped)
    out, size = [], 0
    for ch in text:
        piece = escape(ch, quote=False)
        if size + len(piece) > limit - 1:
            break
        out.append(piece)
        size += len(piece)
    return Html("".join(out) + "…")


def join(parts: Iterable[str], sep: str = "\n") -> Html:
    """Lines of HTML (each from `t` or `esc`) joined; a plain part is escaped."""
    return Html(sep.join(p if isinstance(p, Html) else escape(p, quote=False) for p in parts))

TEXTS: dict[str, str] = {
    # -- common ----------------------------------------------------------------------
    "start": (
        "您好！这里是{county}“民意快车”。\n"
        "有什么困难或建议，直接发文字告诉我们（或点下方“我要反映”）：诉求会第一时间转到承办单位，"
        "{days}个工作日内办理并回复您，办完后还会请您评价是否满意。"
    ),
    "start_staff": "您好，{name}！这里是{county}“民意快车”工作台，您的身份：{roles}。",
    "free_text_short": (
        "请用文字把遇到的问题说清楚（至少{minimum}个字），我们收到后会按诉求受理；"
        "也可以点下方“我要反映”一步步填写。"
    ),
    "report_from_free_text": (
        "收到，已按您刚才说的开始一条新诉求（还没有提交）。"
        "接下来请补充地点和电话，最后确认提交；发送“取消”可放弃。"
    ),
    "help": (
        "使用说明：\n"
        "· 我要反映：用文字描述问题，可附照片和位置；\n"
        "· 我的诉求：查看办理进度；\n"
        "· 预约“民意5来听”：每月5日、25日民情日，15日群众接待日；\n"
        "· 红色代办：老人、重点关爱对象等可请红帆驿站志愿者上门代办（/errands 查看），"
        "/wish 许一个微心愿；\n"
        "· 随时发送 /cancel 可取消当前操作；\n"
        "· 个人信息：/privacy 查看说明，/myinfo 获取我们保存的您的信息，/deleteme 删除。"
    ),
    "unknown_input": "暂时无法处理这条消息。请用下方菜单选择要办的事，或发送 /help 查看说明。",
    "cancelled": "已取消，刚才填写的内容没有提交。需要时可随时重新开始。",
    "nothing_to_cancel": "当前没有进行中的操作。",
    "stale_button": "这个按钮已过期（对应的操作已完成或已取消），请使用最新的消息。",
    "county_generic": "本县",
    "flood": "您发送得太快了，请稍等片刻再继续，我们会逐条处理。",
    # -- privacy (个人信息保护法) -----------------------------------------------------------
    "privacy_notice": (
        "【个人信息保护说明】\n"
        "· 收集什么：您反映的问题描述、照片和语音，地点（位置或地址），您留的联系电话，"
        "以及您的 Telegram 账号和昵称；\n"
        "· 为什么：仅用于把诉求转给承办单位办理、告知您结果和回访满意度，并做匿名统计；\n"
        "· 谁能看到：县民意诉求受理中心派单员、承办单位和所在网格的工作人员；完整电话只有"
        "承办人、派单员和回访人员可见，每次查看都有记录；选择“匿名反映”时，工作人员看不到"
        "您的姓名、电话和账号；\n"
        "· 保存多久：诉求办结后 {days} 天清除其中的个人信息（统计数字保留）；"
        "未提交的草稿 {hours} 小时后删除；\n"
        "· 您的权利：发送 /myinfo 获取我们保存的全部信息，发送 /deleteme 删除您的个人信息。"
    ),
    "btn_consent": "同意",
    "btn_consent_decline": "不同意",
    "consent_thanks": "感谢您的同意。",
    "consent_declined": (
        "好的，您没有同意。以后反映问题时，提交前会再请您阅读说明：只有点“确认提交”"
        "（即表示同意）诉求才会保存并转办，未提交的草稿 {hours} 小时后删除。"
        "不想在这里反映，也可以拨打 12345 热线；发送 /privacy 可重新查看说明。"
    ),
    "summary_consent": (
        "点击“确认提交”即表示您已阅读并同意上面的《个人信息保护说明》（/privacy）。"
    ),
    "private_only": (
        "为保护个人信息，本服务只在私聊中使用：请点击机器人头像，在私聊中发送 /start。"
    ),
    "btn_anonymous": "匿名反映",
    "report_anonymous": (
        "已选择匿名反映：工作人员看不到您的姓名、电话和账号。"
        "办理结果和满意度评价只在本对话中进行，不会电话回访。"
    ),
    "summary_anonymous": "匿名反映（工作人员看不到您的姓名和电话）",
    "anonymous_mark": "匿名",
    "anonymous_no_callback": "匿名诉求未在时限内评价，无法电话回访。",
    "btn_myinfo": "我的信息",
    "btn_deleteme": "删除我的信息",
    "myinfo_caption": "这是我们保存的关于您的全部信息（JSON 格式）。",
    "deleteme_confirm": (
        "确认删除您的个人信息吗？\n将删除：姓名、电话、Telegram 账号关联、位置、地址、照片、"
        "语音和未提交的草稿。\n您的诉求记录会与您断开关联、仅保留用于统计，其文字在办结 "
        "{days} 天后清除。删除后，正在办理的诉求将无法再通知您。此操作不能撤销。"
    ),
    "btn_deleteme_confirm": "确认删除",
    "btn_deleteme_keep": "不删除",
    "deleteme_done": (
        "已删除您的个人信息（{tickets} 件诉求仅匿名保留用于统计）。再次使用时将作为新用户。"
    ),
    "deleteme_kept": "已取消，您的信息没有改动。",
    "privacy_erase_staff": "工作人员的信息由单位管理，不能在这里删除，请联系管理员。",
    "err_staff_inactive": (
        "{code} 已被移除，不能邀请；如需恢复，请在组织文件中设为 active = true 后重新导入。"
    ),
    # -- menu and buttons --------------------------------------------------------------
    "btn_report": "我要反映",
    "btn_my": "我的诉求",
    "btn_appointment": "预约“民意5来听”",
    "btn_help": "帮助",
    "btn_errand": "红色代办",
    "btn_cancel": "取消",
    "btn_send_location": "📍 发送当前位置",
    "btn_share_contact": "📱 使用本机号码",
    "btn_use_phone": "使用 {phone}",
    "btn_no_phone": "不留电话",
    "btn_suggested_place": "📍 {name}（根据您的描述）",
    "btn_place_here": "就是{name}（不清楚具体网格）",
    "btn_place_here_town": "就是{name}（不清楚具体社区或村）",
    "btn_back": "« 返回镇街列表",
    "btn_confirm": "✅ 确认提交",
    "btn_edit_text": "改描述",
    "btn_edit_place": "改地点",
    "btn_edit_phone": "改电话",
    "btn_ticket": "{number} · {state}",
    "btn_prev": "« 上一页",
    "btn_next": "下一页 »",
    "btn_follow_up": "补充说明",
    "btn_work_accept": "接单",
    "btn_work_return": "退回",
    "btn_work_detail": "详情",
    "btn_work_progress": "进展",
    "btn_work_resolve": "办结",
    "btn_work_transfer": "转派",
    "btn_triage_open": "处理分派",
    "btn_triage_assign": "派给 {unit}",
    "btn_triage_other": "其他单位…",
    "btn_back_to_list": "« 返回列表",
    # -- 我要反映 --------------------------------------------------------------------------
    "report_ask_text": (
        "请用文字描述您遇到的问题：什么事、在哪里、持续多久了。\n"
        "可以同时发送照片（最多5张）或语音。随时发送“取消”可放弃。"
    ),
    "report_ask_place": "问题发生在哪里？可点下方按钮发送当前位置，或直接输入详细地址。",
    "report_pick_town": "也可以选择所在镇街：",
    "report_pick_community": "请选择社区或村：",
    "report_pick_grid": "请选择网格（不清楚可选最后一项）：",
    "report_place_chosen": "地点：{place}",
    "report_location_saved": "已收到位置，对应：{place}",
    "report_ask_phone": (
        "请留一个联系电话，方便承办人员联系您、办结后回访。"
        "可点“使用本机号码”，或直接输入手机号/座机号；不愿留也可以选“不留电话”。"
    ),
    "report_phone_declined": (
        "好的，不留电话。承办单位将只通过本机"
        "器人与您联系，回访也只能在这里进行。"
    ),
    "report_phone_saved": "已记下联系电话。",
    "report_photo_saved": "已收到照片（{count}/{limit}）。",
    "report_photo_limit": "最多只能附{limit}张照片，这张没有保存。",
    "report_voice_saved": "已收到语音/视频，将一并转给承办人员。",
    "report_voice_limit": "最多只能附{limit}条语音/视频，这一条没有保存。",
    "report_unsupported": "这类消息（贴纸、文件等）暂时无法处理，请用文字描述。",
    "report_ask_matter": "这件事更接近哪一项？（选一项，我们按它派给负责的单位）",
    "report_matter_chosen": "事项：{matter}",
    "report_matter_none": "好的，由受理中心人工判断派给哪个单位。",
    "btn_matter_none": "都不是 / 说不清",
    "prompt_matter": "请点选上面最接近的一项，或点“都不是 / 说不清”。",
    "prompt_text": "请用文字描述问题。",
    "prompt_place": "请发送位置、选择镇街或输入地址。",
    "prompt_phone": "请留联系电话，或选择“不留电话”。",
    "prompt_confirm": "请核对上面的内容，点“确认提交”或修改。",
    "summary": (
        "请核对您的诉求：\n\n"
        "问题描述：{text}\n"
        "照片：{photos}张　语音/视频：{voices}个\n"
        "地点：{where}\n"
        "联系电话：{phone}"
    ),
    "summary_ready": "信息已填好，请核对：",
    "summary_no_place": "未指定（由县民意诉求受理中心核实）",
    "summary_pin": "（已附定位）",
    "summary_no_phone": "未留",
    "summary_phone_declined": "不留电话",
    "submitted": (
        "提交成功！您的诉求编号：{number}\n"
        "已转交：{unit}\n"
        "承诺办结时间：{due}前（{days}个工作日）\n"
        "办理进展会在这里通知您，也可以在“我的诉求”里随时查看。"
    ),
    "submitted_triage": (
        "提交成功！您的诉求编号：{number}\n"
        "县民意诉求受理中心将尽快确定承办单位，转交后{days}个工作日内办结，届时会通知您。\n"
        "可以在“我的诉求”里随时查看进展。"
    ),
    "submitted_short": "已提交：{number}",
    "already_submitted": "这条诉求已经提交过了，编号 {number}，不会重复提交。",
    # -- 我的诉求 --------------------------------------------------------------------------
    "my_empty": "您还没有提交过诉求。点“我要反映”即可提交。",
    "my_header": "我的诉求（共{total}件，第{page}/{pages}页，点编号查看详情）：",
    "my_line": "· {number}【{state}】{text}",
    "detail": (
        "诉求编号：{number}\n状态：{state}\n承办单位：{unit}\n办结时限：{due}\n"
        "地点：{place}\n\n{text}\n\n办理记录：\n{history}"
    ),
    "detail_unit_pending": "待分派",
    "detail_result": "办理结果：{result}",
    "history_assigned": "转交{unit}办理",
    "history_rated": "评价：{answer}",
    "history_omitted": "（更早的{count}条记录略）",
    "follow_up_ask": (
        "请发送要补充的内容（文字或照片），将转给诉求 {"
        "number} 的承办人员。发送“取消”可放弃。"
    ),
    "follow_up_sent": "已补充到诉求 {number}，承办人员会看到。",
    "follow_up_closed": "诉求当前状态为“{state}”，不能再补充。如有新问题，请重新反映。",
    "follow_up_unsupported": "请用文字或照片补充说明。",
    "internal_error": "抱歉，系统出了点问题，您的操作没有丢失，请稍后再试。",
    "cmd_start": "开始 / 主菜单",
    "cmd_help": "使用帮助",
    "cmd_cancel": "取消当前操作",
    "cmd_book": "预约“民意5来听”",
    # -- 民意“5”来听 ---------------------------------------------------------------------
    "appt_intro": (
        "“民意5来听”：每月5日、25日为民情日，代表委员和干部到网格听取意见；"
        "15日为群众接待日。预约后按时前往，不用排队。\n"
        "请发送位置查找最近的服务点，或在下方选择镇街。"
    ),
    "appt_pick_town": "选择镇街（或查看我的预约）：",
    "appt_pick_venue": "请选择服务点：",
    "appt_no_venue": "这个镇街暂无可预约的服务点，请选择其他镇街。",
    "appt_pick_day": "{venue}\n地址：{address}\n{rule}\n请选择日期：",
    "appt_rule_next_workday": "遇节假日或周末顺延至下一个工作日。",
    "appt_rule_keep": "遇节假日或周末照常接待。",
    "appt_moved": "（{nominal}为休息日，顺延至{actual}）",
    "appt_pick_slot": "请选择时段（括号内为剩余名额）：",
    "appt_no_slot": "这一天已没有可预约的时段，请选择其他日期。",
    "appt_left": "（剩{left}）",
    "appt_full": "（已满）",
    "appt_ask_topic": "请用一句话说明想反映的事项，接待的代表委员会提前了解。",
    "appt_confirm": (
        "请确认预约：\n服务点：{venue}\n地址：{address}\n时间：{at}–{end}\n反映事项：{topic}"
    ),
    "appt_booked": (
        "预约成功！预约码：{code}\n服务点：{venue}\n地址：{address}\n时间：{at}\n"
        "前一天18:00和开始前2小时会提醒您。查看或取消：发送 /bookings"
    ),
    "appt_none": "您目前没有待参加的预约。",
    "appt_item": "预约码 {code}\n{venue}　{at}\n事项：{topic}",
    "appt_cancelled": "已取消预约 {code}，名额已释放。",
    "appt_changed": "已改约：{code}，新的时间 {at}。",
    "appt_change_pick": "请重新选择日期和时段：",
    "appt_unsupported": "请用文字说明，或点按钮选择。发送“取消”可放弃预约。",
    "btn_my_bookings": "我的预约",
    "btn_appt_change": "改约",
    "btn_appt_cancel": "取消预约",
    "btn_mark_attended": "已到场",
    "btn_mark_no_show": "未到场",
    "btn_mark_converted": "转为诉求",
    "booking_booked": "已预约",
    "booking_cancelled": "已取消",
    "booking_attended": "已到场",
    "booking_no_show": "未到场",
    "booking_converted": "已转为诉求",
    "booking_ticket_title": "民意“5”来听接待",
    "roster_usage": "用法：/roster [日期 2026-12-05] [服务点代码]，或 /roster export [日期]",
    "roster_empty": "{day} 没有预约。",
    "roster_header": "{day} 的预约 {count} 个（按时间）：",
    "roster_item": "{at}　{venue}　{code}【{state}】\n事项：{topic}\n可能承办：{unit}",
    "roster_export": "{day} 预约名单（{count} 个）",
    "roster_ask_notes": "请发送接待记录（群众反映的情况和答复）：",
    "roster_marked": "已记录 {code}：{state}。",
    "ob_booking_reminder": "【预约提醒】{code}：{at} 在{venue}（{address}），请按时前往。",
    "ob_booking_converted": (
        "您在预约 {code} 中反映的事项已转为诉求，"
        "编号 {number}，办理进展会在这里通知您。"
    ),
    "err_slot_full": "这个时段已约满，请选择其他时段。",
    "err_booking_limit": "您已有{limit}个待参加的预约，请先参加或取消后再预约。",
    "err_booking_not_open": "这个预约已经结束或已取消。",
    "err_booking_marked": "这个预约已标记为“{state}”。",
    # -- statistics --------------------------------------------------------------------
    "stats_header": (
        "【接诉即办统计】{scope}\n统计期间：{first} 至 {last}（{days}天；不含结束日 {end}"
        "）"
    ),
    "stats_scope_county": "全县",
    "stats_totals": (
        "受理 {received} 件（自动分派 {auto_routed}，人工分派 {triaged}；"
        "改派率 {correction_rate}）\n"
        "响应率 {response_rate}，接单用时中位数 {median} 分钟\n"
        "办结 {resolved} 件，按时办结率 {on_time_rate}；当前超期 {overdue_now} 件\n"
        "回访评价 {answered} 件：解决率 {resolution_rate}，满意率 {satisfaction_rate}；"
        "回访覆盖率 {callback_coverage}，未回访 {no_callback} 件\n"
        "重办率 {reopen_rate}，多次重办 {reopened_many} 件\n"
        "（均按工单计：一件多次办结、评价只计一次；“—”表示没有可计算的件数）"
    ),
    "stats_rate": "{pct}（{num}/{den}）",
    "stats_appointments": (
        "民意“5”来听：预约 {booked}，到场 {attende"
        "d}，未到 {no_show}，转为诉求 {converted}"
    ),
    "stats_ranking_header": "单位排名（得分 = {weights}）：",
    "stats_ranking_line": (
        "{rank}. {name}：得分 {score}｜受理 {received}｜响应 {response}｜"
        "解决 {resolution}｜满意 {satisfaction}｜按时 {on_time}｜超期 {overdue}"
    ),
    "stats_usage": (
        "用法：/stats [本月|上月|2026-11|2026-11-01..2026-11-15]，"
        "/stats export [期间]（明细表），/stats report [期间]（月度通报 PDF）"
    ),
    "stats_export_caption": "统计明细 {start} 至 {last}（不含结束日 {end}）",
    "stats_report_caption": "月度通报 {start} 至 {last}（不含结束日 {end}）",
    "stats_working": "正在生成，请稍候……",
    "ob_monthly_report": (
        "【月度通报】\n{summary}\n\n"
        "发送 /stats report 上月 获取通报（PDF），/stats export 上月 获取明细表。"
    ),
    # figure names and definitions (chat, workbook 说明 sheet, PDF); see services/stats.py
    "fig_received": "受理",
    "def_received": "统计期间内提交的诉求件数。",
    "fig_auto_routed": "自动分派",
    "def_auto_routed": "受理的诉求中，首次由系统自动分派到承办单位的件数。",
    "fig_triaged": "人工分派",
    "def_triaged": "受理的诉求中，首次转受理中心人工分派的件数。",
    "fig_corrected": "改派",
    "def_corrected": "自动分派的诉求中，期间内被分派员改派到其他单位的件数。",
    "fig_correction_rate": "改派率",
    "def_correction_rate": "改派件数 ÷ 自动分派件数。",
    "fig_assigned": "派单",
    "def_assigned": "期间内派给承办单位的诉求件数（一件只计一次）。",
    "fig_responded": "按时响应",
    "def_responded": "派单后在规定工作时间（{hours}小时）内接单的件数。",
    "fig_response_rate": "响应率",
    "def_response_rate": "按时响应件数 ÷ 派单件数。",
    "fig_median_accept_minutes": "接单用时中位数(分钟)",
    "def_median_accept_minutes": "从派单到接单的分钟数的中位数。",
    "fig_resolved": "办结",
    "def_resolved": "期间内办结的诉求件数（一件多次办结只计一次）。",
    "fig_on_time": "按时办结",
    "def_on_time": "办结的诉求中，期间内首次办结在办理时限内的件数。",
    "fig_on_time_rate": "按时办结率",
    "def_on_time_rate": "按时办结件数 ÷ 办结件数。",
    "fig_overdue_now": "当前超期",
    "def_overdue_now": "生成报表时仍在办理且已超过办理时限的件数。",
    "fig_answered": "回访评价",
    "def_answered": "期间内群众作出评价（本人评价或回访员电话记录）的件数，按最后一次评价计。",
    "fig_solved": "已解决",
    "def_solved": "评价中回答“问题已解决”的件数。",
    "fig_resolution_rate": "解决率",
    "def_resolution_rate": "已解决件数 ÷ 回访评价件数。",
    "fig_satisfied": "满意及基本满意",
    "def_satisfied": "评价为“满意”或“基本满意”的件数。",
    "fig_satisfaction_rate": "满意率",
    "def_satisfaction_rate": "（满意 + 基本满意）件数 ÷ 回访评价件数。",
    "fig_covered": "已回访的办结件",
    "def_covered": "期间内办结且在期间内得到评价的件数。",
    "fig_callback_coverage": "回访覆盖率",
    "def_callback_coverage": "已回访的办结件数 ÷ 办结件数。",
    "fig_closed": "关闭",
    "def_closed": "期间内关闭（评价后办结、未回访、无效或撤回）的件数。",
    "fig_no_callback": "未回访",
    "def_no_callback": "多次联系不上群众、按“未回访”关闭的件数。",
    "fig_reopened": "退回重办",
    "def_reopened": "办结的诉求中，期间内因“未解决”或“不满意”被退回重办的件数。",
    "fig_reopen_rate": "重办率",
    "def_reopen_rate": "退回重办件数 ÷ 办结件数。",
    "fig_reopened_many": "多次重办",
    "def_reopened_many": "期间内被退回重办两次及以上的件数。",
    "fig_score": "得分",
    "def_score": "{weights}（满分100；任一项无可计算件数时不评分，记“—”）。",
    "fig_appointments": "民意“5”来听预约",
    "def_appointments": (
        "服务日在统计期间内的预约，按状态计；单位统计按其转成诉求的承办单位，未转的按系统"
        "预判的单位。"
    ),
    "def_rates_note": (
        "所有指标均按工单计，一件诉求多次办结、评价只计一次；比率没有可计算的件数时显示“—"
        "”。"
    ),
    "def_period_note": "统计期间含开始日，不含结束日。",
    # -- staff -------------------------------------------------------------------------
    "invite_welcome": "欢迎，{name}！您的账号已绑定为：{roles}。派给您的诉求会在这里推送。",
    "role_grid_worker": "网格员",
    "role_unit_staff": "承办单位工作人员",
    "role_unit_leader": "单位负责人",
    "role_dispatcher": "县民意诉求受理中心分派员",
    "role_callback_staff": "回访员",
    "role_representative": "代表委员",
    "role_admin": "管理员",
    "role_resident": "群众",
    "staff_only": "{command} 仅供{roles}使用。",
    "help_staff": "工作人员使用说明：下方菜单是您的常用功能，也可以发送以下命令（输入 / 可选）：",
    "btn_menu_queue": "我的待办",
    "btn_menu_triage": "待分派",
    "btn_menu_callbacks": "待回访",
    "btn_menu_stats": "统计",
    "btn_menu_roster": "预约名单",
    "cmd_queue": "我的待办（按办理时限）",
    "cmd_triage": "待分派诉求",
    "cmd_callbacks": "待电话回访",
    "cmd_stats": "接诉即办统计（/stats export 导出）",
    "cmd_roster": "今天的预约名单（/roster 2026-12-05）",
    "cmd_ticket": "查看工单：/ticket 编号",
    "role_organiser": "红帆驿站代办组织员",
    "role_volunteer": "红色代办志愿者",
    "role_block_head": "小区长/楼栋长/单元长",
    "btn_menu_orders": "代办单",
    "btn_menu_errandstats": "代办情况",
    "btn_menu_volunteer": "我的志愿服务",
    "cmd_errands": "我点的红色代办",
    "cmd_wish": "微心愿",
    "cmd_orders": "本驿站待处理的红色代办单（优先对象在前）",
    "cmd_errandstats": "红色代办统计（/errandstats 上月）",
    "cmd_volunteer": "我的志愿服务时长和积分",
    "staff_ticket": (
        "工单 {number}【{state}】{overdue}\n承办单位：{unit}\n地点：{place}\n"
        "办理时限：{due}\n群众：{resident}　电话：{phone}\n承办人：{assignee}\n"
        "照片：{photos}张\n\n{text}\n\n最近记录：\n{recent}"
    ),
    "staff_routing": "分派依据：{rule}；事项：{matter}（{confidence}%）；依据词：{terms}",
    "rule_matter": "派单目录事项",
    "rule_place": "属地事项（所在镇街）",
    "rule_learned": "历史分类模型",
    "rule_resident": "群众自选事项",
    "rule_triage": "人工分派",
    "rule_dispatcher": "受理员代录确认",
    "channel_chat": "对话",
    "channel_phone": "电话",
    "channel_counter": "窗口",
    "record_ask_channel": "代录诉求：这件诉求是怎么来的？",
    "record_ask_name": "请输入来电人/来访人姓名：",
    "record_ask_phone": "请输入联系电话（手机或带区号的座机）：",
    "record_ask_place": "请输入发生地点（含镇街、村或社区名称更准确），或点“跳过”：",
    "record_ask_text": "请输入诉求内容（按群众原话记录）：",
    "record_router_unit": "系统建议：{matter} → {unit}（{rule}）",
    "record_router_unsure": "系统无法确定承办单位，请选择或转人工分派。",
    "record_router_terms": "依据词：{terms}",
    "record_done": "已代录，工单号 {number}，承办：{unit}。结果和回访将由回访员电话联系群众。",
    "record_in_triage": "待分派队列",
    "record_cancelled": "已取消代录，未保存任何内容。",
    "btn_record_confirm": "✅ 确认派给 {unit}",
    "btn_record_triage": "转人工分派",
    "btn_record_skip_place": "跳过",
    "err_channel": "渠道应为电话或窗口。",
    "err_caller_name": "请填写来电人/来访人姓名。",
    "overdue_mark": "⚠已超期",
    "queue_empty": "您名下暂无待办诉求。",
    "queue_header": "待办诉求（{count}件，按办理时限排序）：",
    "queue_line": "· {number}【{state}】时限 {due}{overdue}　{text}",
    "ticket_usage": "用法：/ticket 工单编号，例如 /ticket MY20261127-0001",
    "btn_work_whistle": "吹哨",
    "ask_whistle_reason": (
        "请说明为什么需要吹哨（网格/社区无法单独"
        "解决的原因），发送后转县分派中心优先处理。"
    ),
    "whistled_ok": "已吹哨：{number}，县分派中心将指派县直部门限时接单。",
    "callbacks_empty": "暂无待回访的诉求。",
    "callbacks_header": "待回访 {count} 件，请电话回访后点选结果：",
    "callback_item": (
        "【待回访】{number}（办结于 {resolved}）\n电话：{phone}　已尝试 {attempts} 次\n"
        "诉求：{text}\n办理结果：{result}\n"
        "回访话术：①请问您反映的问题解决了吗？（已解决／未解决）"
        "②您对办理情况满意吗？（满意／基本满意／不满意）"
    ),
    "accepted_ok": "已接单：{number}",
    "ask_return_reason": (
        "请说明退回 {number} 的原因（为什"
        "么不属于本单位/网格），发送后转回分派中心。"
    ),
    "returned_ok": "已退回：{number}，分派中心会重新分派。",
    "ask_progress": "请发送 {number} 的办理进展（文字或照片），群众会收到通知。",
    "progress_ok": "已记录进展：{number}，群众已收到通知。",
    "ask_result": (
        "请先发送办理结果照片（可选，最多{limit}张），最后发送办理结果文字即办结 {number}。"
    ),
    "result_photo_saved": "已收到结果照片（{count}张），请继续发送照片或发送办理结果文字。",
    "result_photo_full": "已收到结果照片（{count}张，已达上限），请发送办理结果文字。",
    "result_photo_limit": "结果照片最多{limit}张，这张没有保存。",
    "resolved_ok": "已办结：{number}。群众将收到结果并评价。",
    "transfer_pick": "把 {number} 转派给：",
    "transfer_nobody": "没有可以转派的同单位或同网格工作人员。",
    "transferred_ok": "已转派 {number} 给 {name}，等待其接单。",
    "triage_empty": "待分派队列为空。",
    "triage_header": "待分派诉求 {count} 件（最早的在前）：",
    "triage_item": (
        "【待分派】{number}（{at}）\n{text}\n\n派单目录建议：\n{suggestions}\n依据词：{terms}"
    ),
    "triage_no_suggestion": "（无）",
    "triage_done": "已将 {number} 派给 {unit}。",
    "rated_thanks": "感谢您的评价（{answer}）！诉求 {number} 已办结。",
    "ask_satisfaction": "诉求 {number}：问题{solved}。\n请问您对办理情况满意吗？",
    "callback_ask_satisfaction": "请继续询问：您对办理情况满意吗？",
    "solved_true": "已解决",
    "solved_false": "未解决",
    "answer": "{solved}，{rating}",
    "err_solved_required": "请先记录问题是否解决。",
    "rated_reopened": (
        "收到您的评价（{answer}）。诉求 {number} 已退回承办单位重新办理。"
        "如愿意，请直接发送不满意的原因（文字或照片），我们会转给承办人员；不需要可点“取消”。"
    ),
    "callback_recorded": "已记录 {number} 的回访结果：{result}。",
    # -- domain errors -----------------------------------------------------------------
    "err_not_found": "未找到该工单。",
    "err_not_allowed": "您没有权限进行此操作。",
    "err_illegal_transition": "工单 {number} 当前状态为“{state}”，不能{action}。",
    "err_conflict": "工单刚刚被他人处理过，请刷新后再试。",
    "err_reason_required": "请填写原因。",
    "err_result_required": "请填写办理结果。",
    "err_unknown_unit": "承办单位不存在或已停用。",
    "err_unit_nobody": (
        "{unit}和该诉求所在网格都没有已绑定 Telegram 的工作人员，派出后无人接收。"
        "请先邀请该单位人员（minyi invite），或选择其他单位。"
    ),
    "triage_card_stale": "工单 {number} 已不在待分派状态（当前：{state}），这张卡片不能再分派。",
    "btn_triage_assign_nobody": "派给 {unit}（⚠无人接收）",
    "btn_unit_nobody": "{unit}（⚠无人接收）",
    "btn_reroute": "改派…",
    "btn_reroute_wrong": "改派（自动分类有误，记为分类纠正）",
    "btn_reroute_keep": "改派（分类无误，只换承办单位）",
    "reroute_confirm": (
        "确认把 {number} 从{previous}改派给{unit}？\n"
        "办理时限将重新计算，{previous}会收到“无需再办理”的通知，群众会收到新的承办单位。"
    ),
    "reroute_done": "已将 {number} 改派给{unit}，原单位已通知。",
    "err_text_required": "请用文字描述您的诉求。",
    "err_text_too_long": "描述共{length}字，超过了{limit}字的上限，请精简后重新发送。",
    "err_text_meaningless": "请用文字把问题说清楚（至少{minimum}个字），表情和符号无法识别。",
    "err_address_meaningless": "没有看懂这个地址，请输入小区、街道或村的名称。",
    "err_location_outside": (
        "这个位置不在本县范围内。请重新发送"
        "位置，或从列表中选择镇街、输入地址。"
    ),
    "err_phone_invalid": (
        "电话号码格式不对：请输入11位手机号，或带"
        "区号的座机号（如0537-4212345）。"
    ),
    "err_progress_required": "请发送进展说明（文字或照片）。",
    "err_transfer_target": "只能转派给同一单位或网格的其他工作人员。",
    "err_invite_unknown": "邀请链接无效。请向管理员重新索取。",
    "err_invite_used": "这个邀请链接已经用过了，每个链接只能使用一次。",
    "err_invite_expired": "这个邀请链接已过期，请向管理员重新索取。",
    "err_invite_taken": "这个工作人员账号已经绑定了另一个 Telegram 账号，请联系管理员。",
    "err_invite_other_staff": "您的 Telegram 账号已绑定为工作人员“{name}”，请联系管理员。",
    "err_invite_unit": "单位代码 {code} 不存在。",
    "err_invite_grid": "网格代码 {code} 不存在。",
    "err_invite_name": "请用 --name 给出姓名。",
    "err_invite_person": "组织文件中没有代码为 {code} 的人员。",
    "err_already_submitted": "这条诉求刚刚已经提交，请在“我的诉求”中查看，不会重复提交。",
    # -- states and actions (Chinese names shown to people) -----------------------------
    "state_submitted": "已提交",
    "state_triage": "待分派",
    "state_assigned": "已派单",
    "state_accepted": "办理中",
    "state_resolved": "已办结待评价",
    "state_callback_due": "待回访",
    "state_closed": "已办结",  # rated or called back: residents read "closed" as refused
    "state_closed_invalid": "已关闭（无效诉求）",
    "state_closed_withdrawn": "已撤回",
    "action_submit": "提交",
    "action_triage": "转入待分派",
    "action_assign": "派单",
    "action_reroute": "改派",
    "action_accept": "接单",
    "action_return": "退回",
    "action_escalate": "吹哨督办",
    "action_resolve": "办结",
    "action_rate": "评价",
    "action_reopen": "退回重办",
    "action_callback_due": "转人工回访",
    "action_callback": "记录回访",
    "action_close": "关闭",
    "action_follow_up": "群众补充说明",
    "action_progress": "办理进展",
    "action_transfer": "转派",
    "action_whistle": "吹哨",
    "rating_satisfied": "满意",
    "rating_basically_satisfied": "基本满意",
    "rating_unsatisfied": "不满意",
    "rating_unreachable": "无法联系",
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
        "请您回答两个问题。第一个：您反映的问题解决了吗？"
    ),
    "ob_reopened": (
        "【退回重办】{number}\n群众评价：{answer}（第{count}次）{comment}\n"
        "新的办理时限：{due}"
    ),
    "ob_reopened_comment": "：{comment}",
    "ob_reopened_resident": "您的诉求 {number} 已退回 {unit} 重新办理，新的时限：{due}。",
    "ob_callback_due": "【待回访】{number}\n群众未在时限内评价，请电话回访。\n联系电话：{phone}",
    "ob_progress": "您的诉求 {number} 有新进展（{unit}）：{note}",
    "ob_transferred": "【转派给您】",
    "ob_whistle": (
        "【吹哨】{number}\n原承办：{unit}\n原因：{reason}\n"
        "请尽快指派县直部门，部门须按时接单。\n\n{text}"
    ),
    "ob_reminder": "【办理提醒】{number}（{state}）将于 {due} 到期，请抓紧办理。\n{text}",
    "ob_digest": "【每日超期通报】{unit} 有 {count} 件诉求已超期：\n{lines}",
    "ob_digest_line": "· {number} 时限 {due}",
    "overdue_reason": "超过办理时限未办结",
    "accept_late_reason": "吹哨后未在规定时间内接单",
    "ob_unreachable": "【消息无法送达】{name}：{reason}。请通过电话等其他方式联系。",
    "ob_follow_up": "【群众补充】{number}\n{text}",
    "ob_photos_failed": "（所附照片未能发送，这里只有文字。）",
    "photo_only": "（补充了照片）",
    "ob_closed_resident": "您的诉求 {number} 已关闭（{outcome}）。{note}",
    "ob_closed_no_callback": "您的诉求 {number} 已办结（多次未能联系到您回访）。{note}",
    "no_grid": "（未定位到网格）",
    "no_phone": "未留电话",
    "triage_low_confidence": "自动分类把握不足，请人工分派。",
    "triage_nobody": (
        "自动分类为{unit}，但该单位和所在网格没有已绑定的工作人员，"
        "派出后无人接收，请人工分派。"
    ),
    "ob_rerouted_away": (
        "【已改派】{number}\n分派中心已将该诉求改派给{unit}，{previous}无需再办理。"
    ),
    # -- CLI ---------------------------------------------------------------------------
    "cli_no_token": (
        "未配置 Telegram 机器人令牌：请在 config.toml 的 telegram.token 或环境变量 "
        "MINYI_BOT_TOKEN 中设置（见 config.example.toml）。"
    ),
    # -- 红色代办 (services/errands.py, handlers/errands.py) ------------------------------
    "errand_intro": (
        "红色代办：群众点单、组织下单、党员接单。红帆驿站的红色代办服务队按轮值上门代办，"
        "70周岁以上老人和孤寡、留守儿童、残疾等重点关爱对象优先。请选择红帆驿站："
    ),
    "errand_no_venues": "暂无开展红色代办的红帆驿站。",
    "errand_pick_town": "红帆驿站较多，请先选择所在镇（街道）：",
    "errand_town_button": "{town}（{n}）",
    "errand_pick_venue": "请选择红帆驿站：",
    "errand_pick_item": "{venue}可代办的事项，请选择：",
    "errand_for_whom": "为谁办理？",
    "btn_errand_self": "为自己",
    "btn_errand_other": "替他人点单",
    "errand_ask_name": "请输入被服务人的姓名：",
    "errand_ask_age": "请输入被服务人的年龄（周岁，数字）：",
    "errand_ask_age_self": "请输入您的年龄（周岁，数字）：",
    "errand_ask_address": "请输入上门地址（小区、楼栋、单元、门牌）：",
    "errand_ask_phone": "请输入联系电话：",
    "errand_ask_care": "被服务人是否属于重点关爱对象？",
    "errand_ask_day": "希望哪天办理？",
    "errand_ask_window": "希望什么时段？",
    "errand_window_morning": "上午",
    "errand_window_afternoon": "下午",
    "errand_window_any": "全天均可",
    "errand_care_": "否",
    "errand_care_elderly_alone": "孤寡老人",
    "errand_care_left_behind_child": "留守儿童",
    "errand_care_disabled": "残疾人",
    "errand_first": "【优先】",
    "errand_confirm": (
        "请确认代办单：\n{summary}\n\n联系人：{name}，{phone}\n地址：{address}"
    ),
    "errand_summary": (
        "{first}代办单 #{id}：{item}\n红帆驿站：{venue}\n时间：{day} {window}\n"
        "被服务人：{age}岁{care}"
    ),
    "errand_draft_summary": (
        "代办事项：{item}\n红帆驿站：{venue}\n时间：{day} {window}\n被服务人：{age}岁{care}"
    ),
    "errand_care_shown": "，{care}",
    "errand_contact": "姓名：{name}\n地址：{address}\n电话：{phone}",
    "errand_ordered": (
        "已点单，代办单号 #{id}。驿站组织员会尽快安排志愿者，接单后会通知您。"
    ),
    "errand_mine_empty": "您还没有点过代办。",
    "errand_mine_line": "#{id} {item} {day}{served} —— {state}",
    "errand_mine_served": "，为 {name}",
    "errand_state_ordered": "待派单",
    "errand_state_offered": "待志愿者接单",
    "errand_state_accepted": "志愿者已接单",
    "errand_state_visited": "志愿者已上门",
    "errand_state_done": "已完成，待您确认",
    "errand_state_closed": "已完成",
    "errand_state_cancelled": "已取消",
    "errand_queue_empty": "目前没有待处理的代办单。",
    "errand_queue_head": "待处理的代办单（优先对象在前）：",
    "errand_pick_volunteer": "代办单 #{id}：请选择当天轮值的志愿者：",
    "errand_no_rota": "代办单 #{id}：当天轮值表上没有可指派的志愿者，请调整轮值或稍后再试。",
    "errand_offered_to": "代办单 #{id} 已派给 {volunteer}，等待接单。",
    "errand_rota_out": "代办单 #{id}：当天轮值志愿者都已问过或已满额，请手动指派。",
    "errand_accepted_you": "您已接单。\n{summary}",
    "errand_declined": "已婉拒代办单 #{id}，已转给下一位志愿者。",
    "errand_visited_you": "已记录：代办单 #{id} 已上门。",
    "errand_ask_result": (
        "请发送办理结果说明，发出文字即完成代办单 #{id}。"
        "可先发{limit}张照片（或把文字写在照片说明里一起发）："
    ),
    "errand_result_photo_saved": "已收到照片。请再发送办理结果文字，即完成代办单 #{id}。",
    "errand_result_photo_limit": "结果照片最多{limit}张，这张没有保存。",
    "errand_completed_you": "已记录：代办单 #{id} 已完成，等待点单人确认。",
    "errand_rated": "感谢评价！代办单 #{id}：{rating}。",
    "errand_rated_bad": "抱歉没让您满意，代办单 #{id} 已退回驿站重新安排。",
    "errand_cancelled": "代办单 #{id} 已取消。",
    "errand_rating_satisfied": "满意",
    "errand_rating_basic": "基本满意",
    "errand_rating_unsatisfied": "不满意",
    "errand_rating_unrated": "未评价（超过确认时限）",
    "ob_errand_confirm_reminder": (
        "【请确认】您点的代办单 #{id}（{item}）志愿者已办完，请确认并评价。"
        "{close} 前未评价的，将按“未评价”自动完成。"
    ),
    "ob_errand_timed_out": (
        "代办单 #{id}（{item}）超过确认时限，已按“未评价”完成。如有问题，请联系{venue}。"
    ),
    "btn_errand_assign": "指派志愿者",
    "btn_errand_auto": "按轮值派单",
    "btn_errand_accept": "接单",
    "btn_errand_decline": "婉拒",
    "btn_errand_visit": "已上门",
    "btn_errand_complete": "已完成",
    "btn_errand_satisfied": "满意",
    "btn_errand_basic": "基本满意",
    "btn_errand_unsatisfied": "不满意",
    "btn_errand_cancel": "取消代办",
    "btn_errand_confirm": "确认提交",
    "volunteer_record": (
        "{name} 的志愿服务：\n本月：代办 {month_errands} 件，服务 {month_hours} 小时，"
        "积分 {month_points}\n累计：代办 {errands} 件，服务 {hours} 小时，积分 {points}"
    ),
    "errand_stats_head": "红色代办统计（{start} 至 {end}）",
    "errand_stats_body": (
        "点单 {ordered} 件（优先对象 {priority} 件），接单 {accepted} 件，"
        "平均接单用时 {accept} 小时（中位数 {median}，优先对象 {first}）；"
        "办完 {completed} 件，取消 {cancelled} 件，"
        "完成率 {completion}；评价 {rated} 件，满意率 {satisfaction}，超时未评价 {unrated} 件；"
        "确认完成 {confirmed} 件，志愿服务 {hours} 小时，积分 {points}。"
    ),
    "errand_stats_items": "按事项：{items}",
    "errand_stats_venues": "驿站积分排名：{ranking}",
    "errand_stats_units": "双报到单位积分排名：{ranking}",
    "errand_rank_item": "{rank}. {name} {points}分（{hours}小时）",
    "errand_rank_of": "第 {rank}/{of} 名",
    "errand_rank_none": "暂无排名（尚无确认完成的代办）",
    "errand_stats_venue_rank": (
        "{name}：全县驿站积分{rank}，{volunteers} 名志愿者确认完成代办 "
        "{errands} 件，服务 {hours} 小时，积分 {points}"
    ),
    "errand_stats_unit_rank": (
        "双报到单位 {name}：全县{rank}，{volunteers} 名志愿者确认完成代办 "
        "{errands} 件，服务 {hours} 小时，积分 {points}"
    ),
    "errand_stats_section": "【红色代办】",
    "doctor_errands_ok": "{venues} 个红帆驿站开展红色代办，轮值表每天都有志愿者",
    "doctor_errands_gaps": (
        "{venues} 个红帆驿站开展红色代办；轮值表有空档（那天点的单只能等组织员手动指派，"
        "请在组织文件的 rota 中补上志愿者）：{gaps}"
    ),
    "doctor_errands_gap": "{name}（{code}）{days}无人轮值",
    "doctor_redis_ok": "{url} 可连接（PING）",
    "doctor_redis_fail": (
        "无法连接 {url}：{error}；对话状态和限流都在 Redis 中，各实例处理不了任何消息，"
        "请检查 redis.url / MINYI_REDIS_URL 和 Redis 服务"
    ),
    "weekday_short": "周{day}",
    "block_head_1": "小区长",
    "block_head_2": "楼栋长",
    "block_head_3": "单元长",
    "errand_orderer": "代点单：{name}{role}",
    "errand_orderer_role": "（{role}）",
    "ob_errand_monthly": (
        "【红色代办月度通报】{venue}\n{summary}\n\n"
        "发送 /errandstats 上月 可再次查看。"
    ),
    # figure names and definitions of 红色代办 (workbook, 说明 sheet); services/errand_stats.py
    "fig_errand_ordered": "代办点单",
    "def_errand_ordered": "统计期间内点单的红色代办件数（替人点单也计入）。",
    "fig_errand_priority": "优先对象点单",
    "def_errand_priority": (
        "点单中被服务人70周岁以上或属重点关爱对象（孤寡、留守儿童、残疾）的件数。"
    ),
    "fig_errand_accepted": "代办接单",
    "def_errand_accepted": "期间内点单、已由志愿者接单的件数。",
    "fig_errand_mean_accept_hours": "平均接单用时（小时）",
    "def_errand_mean_accept_hours": "从点单到志愿者接单的小时数（自然时间）的平均值。",
    "fig_errand_median_accept_hours": "接单用时中位数（小时）",
    "def_errand_median_accept_hours": "从点单到志愿者接单的小时数（自然时间）的中位数。",
    "fig_errand_priority_mean_accept_hours": "优先对象平均接单用时（小时）",
    "def_errand_priority_mean_accept_hours": (
        "被服务人70周岁以上或属重点关爱对象的代办，从点单到接单的小时数的平均值。"
    ),
    "fig_errand_completed": "代办办完",
    "def_errand_completed": "期间内点单、志愿者已标记“已完成”的件数。",
    "fig_errand_cancelled": "代办取消",
    "def_errand_cancelled": "期间内点单、点单人取消的件数。",
    "fig_errand_completion": "代办完成率",
    "def_errand_completion": "办完件数 ÷（点单件数 − 取消件数）。",
    "fig_errand_rated": "代办评价",
    "def_errand_rated": "期间内点单、点单人作出评价（满意、基本满意、不满意）的件数。",
    "fig_errand_satisfied": "代办满意",
    "def_errand_satisfied": "评价为满意或基本满意的件数。",
    "fig_errand_satisfaction": "代办满意率",
    "def_errand_satisfaction": "（满意 + 基本满意）÷ 评价件数；超时未评价的不计入。",
    "fig_errand_unrated": "超时未评价",
    "def_errand_unrated": (
        "志愿者办完后，点单人经提醒仍未在时限内确认、自动关闭的件数（不计入满意率）。"
    ),
    "fig_errand_confirmed": "确认完成",
    "def_errand_confirmed": (
        "统计期间内确认完成（评价满意、基本满意或超时自动关闭）的件数，计入时长和积分。"
    ),
    "fig_errand_hours": "志愿服务时长（小时）",
    "def_errand_hours": "期间内确认完成的代办记给志愿者的服务时长（按事项配置）。",
    "fig_errand_points": "双报到积分",
    "def_errand_points": "期间内确认完成的代办记给志愿者的双报到双积分（按事项配置）。",
    "fig_errand_ranking": "驿站、双报到单位排名",
    "def_errand_ranking": (
        "按期间内确认完成代办的积分排序，积分相同按服务时长；积分和时长都相同的名次并列。"
        "驿站按代办单所属驿站，双报到单位按接单志愿者所在单位计。"
    ),
    "errand_stats_usage": "用法：/errandstats [本月|上月|2026-11|2026-11-01..2026-11-30]",
    "wish_intro": (
        "微心愿：写下一个小心愿（价值不超过{limit}元），由红帆驿站发布，"
        "两代表一委员或志愿者认领帮您实现。请选择红帆驿站："
    ),
    "wish_ask_text": "请用一句话写下您的心愿（4到200字）：",
    "wish_ask_value": "这个心愿大约价值多少元？（数字，不超过{limit}元）",
    "wish_submitted": "心愿已提交，编号 #{id}。驿站发布后会通知您。",
    "wish_summary": "微心愿 #{id}（{venue}）：{text}\n价值约 {value} 元",
    "wish_published_you": "微心愿 #{id} 已发布。",
    "wish_rejected_you": "微心愿 #{id} 不予发布。",
    "wish_claimed_you": "您已认领微心愿 #{id}，实现后请点“已实现”并发一张照片。",
    "wish_ask_photo": "请发一张心愿实现的照片：",
    "wish_fulfilled_you": "感谢！微心愿 #{id} 已实现，已告知居民。",
    "btn_wish_publish": "发布",
    "btn_wish_reject": "不予发布",
    "btn_wish_claim": "认领",
    "btn_wish_fulfil": "已实现",
    "ob_wish_new": "新的微心愿，请审核发布：\n{summary}",
    "ob_wish_published": "可认领的微心愿：\n{summary}",
    "ob_wish_published_resident": "您的微心愿 #{id} 已由驿站发布，等待认领。",
    "ob_wish_rejected": "您的微心愿 #{id} 暂不予发布，如有疑问请联系红帆驿站。",
    "ob_wish_claimed": "您的微心愿 #{id} 已由 {name} 认领。",
    "ob_wish_fulfilled": "微心愿 #{id} 已由 {name} 帮助实现：{text}",
    "err_wish_text": "心愿请写4到200个字。",
    "err_wish_value": "价值请填写1到{limit}之间的整数（元）。",
    "err_wish_photo": "请发一张照片。",
    "ob_errand_new": "新的红色代办点单：\n{summary}",
    "ob_errand_offer": "红色代办邀请：\n{summary}\n请在 {until} 前接单，逾时将转给下一位志愿者。",
    "ob_errand_accepted": "您的代办单 #{id}（{item}）已由志愿者 {volunteer} 接单。",
    "ob_errand_accepted_org": "代办单 #{id} 已由 {volunteer} 接单。",
    "ob_errand_exhausted": "当天轮值志愿者均未接单或已满额，请手动指派：\n{summary}",
    "ob_errand_visited": "代办单 #{id}：志愿者 {volunteer} 已上门。",
    "ob_errand_done": "代办单 #{id}（{item}）已办完：\n{note}\n请确认并评价：",
    "ob_errand_unsatisfied": "点单人对代办结果不满意，请重新安排：\n{summary}",
    "ob_errand_closed": "代办单 #{id} 已确认（{rating}），记服务 {hours} 小时、积分 {points}。",
    "ob_errand_cancelled": "代办单 #{id}（{item}）已由点单人取消。",
    "err_errand_name": "姓名请填写1到32个字。",
    "err_errand_age": "年龄请填写1到120之间的数字。",
    "err_errand_address": "地址请填写4到200个字，写清小区、楼栋和门牌。",
    "err_errand_phone": "电话号码格式不对，请输入7到12位数字。",
    "err_errand_item": "该驿站没有这项代办，请重新选择。",
    "err_errand_day": "请选择接下来几天内的日期。",
    "err_errand_incomplete": "代办单信息不完整，请重新点单。",
    "err_errand_too_many": "您已有{limit}件未完成的代办，请办完后再点单。",
    "err_errand_not_volunteer": "该志愿者不在本驿站的服务队中。",
    "err_errand_volunteer_full": "{name} 手上已有 {limit} 件代办未完成，请指派其他志愿者。",
    "errand_rota_load": "{name}（{held}/{limit}）",
    "err_errand_result": "请写一句办理结果（文字，或写在照片说明里）。",
    "err_errand_state": "代办单 #{id} {state}，这个按钮已失效。",
    "errand_now_ordered": "正在等待派单",
    "errand_now_offered": "已派给志愿者，正在等待接单",
    "errand_now_accepted": "已由志愿者接单",
    "errand_now_visited": "志愿者已上门",
    "errand_now_done": "已完成，正在等待点单人确认",
    "errand_now_closed": "已完成并确认",
    "errand_now_cancelled": "已取消",
    "err_wish_state": "微心愿 #{id} {state}，这个按钮已失效。",
    "wish_now_submitted": "正在等待驿站审核",
    "wish_now_published": "已发布，正在等待认领",
    "wish_now_claimed": "已被认领",
    "wish_now_fulfilled": "已实现",
    "wish_now_rejected": "不予发布",
    "err_wish_claimed_other": "这个微心愿 #{id} 已被他人认领。",
    "cli_bad_token": "telegram.token 格式不正确：应为 BotFather 给出的 “123456:ABC…” 形式。",
}


def t(key: str, **params: object) -> Html:
    """The text for `key` with `params` filled in, each HTML-escaped unless it is `Html`;
    a missing key is a programming error."""
    if not params:
        return Html(TEXTS[key])
    return Html(TEXTS[key].format(**{
        name: value if isinstance(value, Html) else escape(str(value), quote=False)
        for name, value in params.items()}))


def plain(key: str, **params: object) -> str:
    """The text for `key` where Telegram shows it as written (button labels, alerts)."""
    return TEXTS[key].format(**params) if params else TEXTS[key]


WEEKDAYS = "一二三四五六日"


def fmt_day(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    """The deadline as residents read it: 2026年12月2日（星期三）17:30."""
    if moment is None:
        return "—"
    local = moment.astimezone(tz)
    return (f"{local.year}年{local.month}月{local.day}日（星期{WEEKDAYS[local.weekday()]}）"
            f"{local:%H:%M}")


def fmt_moment(moment: dt.datetime | None, tz: ZoneInfo) -> str:
    """A moment as residents read it: 2026年10月10日 10:00 (local time)."""
    if moment is None:
        return "—"
    local = moment.astimezone(tz)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def answer_words(solved: bool | None, rating: str | None) -> str:
    """"已解决，满意": a resident's two answers as one phrase (older events lack `solved`)."""
    words = t(f"rating_{rating}") if rating else "—"
    if solved is None:
        return words
    return t("answer", solved=t(f"solved_{str(solved).lower()}"), rating=words)
