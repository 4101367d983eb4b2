// The built-in enterprise prompt set; see enterprise_prompts.h. Company names, people and figures
// in the texts are invented.
#include "bench/enterprise_prompts.h"

#include <array>

namespace hanlin::bench {
namespace {

constexpr EnterpriseTask kContract = EnterpriseTask::kContractReview;
constexpr EnterpriseTask kPolicy = EnterpriseTask::kPolicyQuestion;
constexpr EnterpriseTask kReport = EnterpriseTask::kReportSummary;
constexpr EnterpriseTask kTool = EnterpriseTask::kToolCall;

constexpr std::array kPrompts = {
    // 合同审查
    EnterprisePrompt{kContract,
                     "请审查以下采购合同条款，指出对我方（买方）不利之处并给出修改建议：\n"
                     "第五条 付款：买方应在合同签订后三日内支付全部货款，卖方在收到货款后九十日内发货。\n"
                     "第八条 违约：买方逾期付款的，每日按未付金额的百分之一支付违约金；卖方逾期交货的，双方协商解决。",
                     384},
    EnterprisePrompt{kContract,
                     "下面是一份软件外包合同的知识产权条款，请判断开发成果的归属是否清楚，并说明存在的风险：\n"
                     "“乙方在履行本合同过程中形成的全部源代码、文档及相关成果，在甲方付清全部款项前归乙方所有，"
                     "付清后甲方享有使用权。”",
                     320},
    EnterprisePrompt{kContract,
                     "请检查这段保密条款是否完整：“双方应对在合作中知悉的对方商业秘密予以保密，保密期限为合同有效期内。”"
                     "请列出缺少的要素，并起草一段更完善的条款。",
                     400},
    EnterprisePrompt{kContract,
                     "我司拟与供应商签订一年期的设备租赁合同，对方提供的文本约定“租赁期满后自动续期一年，"
                     "任何一方未提前十日书面通知即视为同意续期”。这一约定有什么隐患？应如何修改？",
                     300},
    EnterprisePrompt{kContract,
                     "请审查劳动合同中的竞业限制条款：“员工离职后三年内不得在任何互联网企业任职，公司无需支付补偿。”"
                     "结合一般的劳动法规则，说明该条款可能无效或需调整的地方。",
                     320},
    EnterprisePrompt{kContract,
                     "以下是一份服务合同的责任限制条款：“无论任何原因，服务商承担的赔偿总额不超过人民币一千元。”"
                     "我方是采购方，合同总金额为八十万元。请评估该条款并提出谈判建议。",
                     300},
    EnterprisePrompt{kContract,
                     "请把下面这份合同的争议解决条款改写得更明确：“因本合同产生的争议，双方友好协商，协商不成的，"
                     "可以向有关机构申请解决。”我方住所地在杭州，对方在成都。",
                     256},
    EnterprisePrompt{kContract,
                     "审查一份房屋租赁合同时，请列出承租方（企业办公用途）应重点核对的十个条款要点，"
                     "每点用一句话说明为什么重要。",
                     448},
    EnterprisePrompt{kContract,
                     "供应商合同中写有：“因不可抗力导致的任何延误，卖方均不承担责任，且不可抗力包括但不限于原材料涨价、"
                     "员工罢工和卖方资金紧张。”请指出其中不合理的地方。",
                     288},
    EnterprisePrompt{kContract,
                     "请比较以下两种验收条款，说明哪一种对买方更有利以及理由：\n"
                     "A：货物送达后七日内买方未提出书面异议的，视为验收合格。\n"
                     "B：买方应在货物安装调试完成并连续正常运行三十日后出具验收报告，验收报告签署前货物风险由卖方承担。",
                     320},
    EnterprisePrompt{kContract,
                     "一份数据处理协议约定服务商“可为改进自身产品之目的使用客户数据”。我司客户数据包含个人信息，"
                     "请从合规角度分析风险，并建议替代表述。",
                     352},
    EnterprisePrompt{kContract,
                     "请为一份技术咨询合同起草付款条款：合同总价三十万元，分三期支付，分别对应方案交付、"
                     "系统上线和上线后三个月稳定运行，每期需附验收条件。",
                     384},
    // 制度问答
    EnterprisePrompt{kPolicy,
                     "公司差旅制度规定：普通员工出差住宿标准为一线城市每晚不超过五百元，其他城市不超过三百五十元；"
                     "超标部分需部门负责人审批。我下周去上海出差三晚，酒店每晚六百二十元，报销时需要做什么？",
                     200},
    EnterprisePrompt{kPolicy,
                     "根据公司考勤制度，每月迟到三次以内不扣款，第四次起每次扣五十元，迟到超过三十分钟按旷工半天处理。"
                     "小王本月迟到五次，其中一次迟到了四十分钟，他会被如何处理？",
                     180},
    EnterprisePrompt{kPolicy,
                     "我们的年假规定是：入职满一年不满十年每年五天，满十年不满二十年每年十天，当年未休的可顺延到次年三月底。"
                     "我入职已经十年零两个月，去年还剩三天没休，今年一共能休多少天？截止时间是什么？",
                     200},
    EnterprisePrompt{kPolicy,
                     "公司采购制度要求：单笔五万元以下由部门经理审批，五万至五十万元需要三家比价并经财务总监审批，"
                     "五十万元以上必须公开招标。我们要采购一批价值十二万元的笔记本电脑，流程应该怎么走？",
                     256},
    EnterprisePrompt{kPolicy,
                     "信息安全制度规定员工不得将公司文件上传至未经批准的外部网盘。我需要把一份设计稿发给外部合作方审阅，"
                     "有哪些合规的做法？",
                     220},
    EnterprisePrompt{kPolicy,
                     "报销制度写明发票须在开票之日起九十日内提交，逾期不予报销，特殊情况需副总经理签批。"
                     "我有一张一百零五天前开的会议费发票，还能报销吗？需要准备什么材料？",
                     180},
    EnterprisePrompt{kPolicy,
                     "请解释一下公司加班制度中“工作日加班优先安排调休，无法调休的按一点五倍工资支付；"
                     "休息日加班按两倍工资支付”这句话，并举一个计算例子。",
                     256},
    EnterprisePrompt{kPolicy,
                     "员工手册规定试用期员工不享受年终奖，但可以参加季度绩效评优。我是十月入职、次年一月转正，"
                     "我能拿到上一年度的年终奖吗？",
                     160},
    EnterprisePrompt{kPolicy,
                     "公司的礼品礼金管理办法规定，员工收受价值超过二百元的礼品须在五个工作日内上交登记。"
                     "供应商春节送来一盒价值约六百元的茶叶，我应当怎么处理？",
                     180},
    EnterprisePrompt{kPolicy,
                     "我们部门想组织一次团建，预算每人三百元。按照公司福利费管理规定，团建费用需要提前申请吗？"
                     "由谁审批？发票抬头有什么要求？请按步骤说明。",
                     220},
    EnterprisePrompt{kPolicy,
                     "根据公司远程办公制度，每周最多可居家办公两天，需提前一天在系统中登记，且核心协作时间"
                     "（上午十点至下午四点）必须在线。我想下周一、三、五居家，可以吗？",
                     160},
    EnterprisePrompt{kPolicy,
                     "公司规定员工离职须提前三十日书面通知，试用期内提前三日。离职前需完成工作交接、归还设备、"
                     "注销系统账号。请把离职流程整理成一份清单。",
                     240},
    // 报告摘要
    EnterprisePrompt{kReport,
                     "请用三句话概括下面的季度经营报告：\n本季度公司实现营业收入四点二亿元，同比增长百分之十八，"
                     "主要来自华东地区新签的两个大客户。毛利率由百分之三十一下降到百分之二十八，原因是原材料价格上涨"
                     "和新产线投产初期良率偏低。销售费用同比增长百分之二十五，高于收入增速。经营活动现金流净额为"
                     "负三千万元，主要因为应收账款增加。管理层预计下季度良率将提升至百分之九十五以上。",
                     200},
    EnterprisePrompt{kReport,
                     "以下是一份客户满意度调查结果，请提炼三条主要结论和两条改进建议：\n共回收问卷一千二百份，"
                     "总体满意度为百分之八十二。对产品质量的满意度最高（百分之九十），对售后响应速度的满意度最低"
                     "（百分之六十一），投诉集中在工单平均处理时长超过四十八小时。年轻客户更偏好在线客服，"
                     "五十岁以上客户更偏好电话。",
                     256},
    EnterprisePrompt{kReport,
                     "请为管理层写一段不超过一百五十字的摘要：\n信息系统年度审计发现，核心业务系统全年可用率为百分之"
                     "九十九点七，较去年提升零点二个百分点；发生二级以上故障三次，均在四小时内恢复；仍有百分之十五的"
                     "服务器操作系统版本过旧，存在安全补丁无法更新的风险；权限复核中发现四十七个离职人员账号未及时注销。",
                     220},
    EnterprisePrompt{kReport,
                     "下面是项目周报的原文，请整理成“进展、风险、下周计划”三个部分：\n这周完成了订单模块的接口开发和"
                     "单元测试，支付模块联调延后，因为第三方支付平台的测试环境周三起不可用。性能测试发现查询接口在"
                     "高峰时段响应时间超过两秒，需要优化索引。下周计划完成支付联调、开始用户验收测试，并提交上线申请。",
                     256},
    EnterprisePrompt{kReport,
                     "请概括这份市场调研报告的要点并指出对我司的启示：\n国内中小企业协同办公软件市场规模约为一百六十亿元，"
                     "年增长率约百分之十四。用户最看重的三项功能依次是即时通讯、文档协作和审批流程。价格敏感度高，"
                     "超过六成企业的年预算不足两万元。头部三家厂商合计占有约百分之五十五的份额，行业定制化需求尚未被满足。",
                     300},
    EnterprisePrompt{kReport,
                     "把下面的安全生产月报压缩成一段适合在晨会上宣读的话（一百字左右）：\n本月共开展安全检查十二次，"
                     "发现隐患三十一项，已整改二十八项，剩余三项为消防通道堆放杂物，要求本周五前完成整改。全月未发生"
                     "人员伤亡事故。新员工安全培训覆盖率为百分之百，特种作业人员持证率为百分之九十六。",
                     160},
    EnterprisePrompt{kReport,
                     "请阅读以下内部审计发现并按风险高低排序，简述理由：\n一、部分合同在签署后才补办审批手续；"
                     "二、备用金长期未清理，最长一笔挂账超过两年；三、固定资产盘点有十二台电脑账实不符；"
                     "四、个别部门使用个人微信与客户确认订单价格，未留存书面记录。",
                     320},
    EnterprisePrompt{kReport,
                     "请为下面的人力资源年度数据写一份要点摘要，并指出值得关注的趋势：\n年末在职员工二千三百人，"
                     "较年初增加百分之九；全年主动离职率百分之十二，其中研发人员离职率为百分之十八；平均招聘周期"
                     "为三十八天；人均培训时长二十六小时，较上年增加六小时；管理岗位中女性占比百分之三十四。",
                     280},
    EnterprisePrompt{kReport,
                     "下面是一次客户会议的记录，请整理出会议结论和待办事项（标明负责人）：\n客户希望第三季度末前完成"
                     "二期系统上线；张经理表示需要客户在八月十五日前确认需求；李工负责评估数据迁移工作量，下周二给出方案；"
                     "双方同意每两周召开一次进度会，由我方项目助理负责会议纪要。",
                     256},
    EnterprisePrompt{kReport,
                     "请用要点形式总结以下能耗分析结论：\n园区上半年用电量同比下降百分之七，主要得益于空调系统改造和照明"
                     "更换为节能灯具；但数据中心用电量同比上升百分之十五，占园区总用电的比重升至百分之四十一。"
                     "建议下半年评估数据中心余热回收方案，并对高耗能服务器进行整合。",
                     220},
    // 工具调用
    EnterprisePrompt{kTool, "帮我查一下工号为 E20417 的员工在哪个部门，他的直属上级是谁？", 128},
    EnterprisePrompt{kTool, "研发中心的陈思远这个人，请查一下他的联系电话和办公地点。", 128},
    EnterprisePrompt{kTool,
                     "我的笔记本电脑今天早上开始无法连接公司无线网络，重启后仍然不行，请帮我提交一个IT报修工单，优先级高。",
                     160},
    EnterprisePrompt{kTool, "财务系统导出报表时一直报错“数据超时”，帮我建一个工单给系统运维组，普通优先级即可。", 160},
    EnterprisePrompt{kTool, "请查一下员工 E10932 今年还剩几天年假。", 128},
    EnterprisePrompt{kTool, "我是 E31508，想知道我的调休假余额还有多少小时。", 128},
    EnterprisePrompt{kTool, "帮我预订明天下午两点到三点半的会议室，大概八个人，需要投影仪。", 160},
    EnterprisePrompt{kTool, "周五上午九点到十点要和客户开视频会议，请在三楼订一间能坐四个人的会议室。", 160},
    EnterprisePrompt{kTool,
                     "新同事王雨桐下周一入职，请帮她提交一个开通邮箱和门禁卡的工单，并查一下她所在部门的负责人是谁。",
                     224},
    EnterprisePrompt{kTool, "查一下市场部的刘倩还有多少天年假，她想下个月请一周假。", 160},
};

constexpr std::string_view kToolsJson = R"json([
  {"type": "function", "function": {
    "name": "lookup_employee",
    "description": "按工号或姓名查询员工信息：部门、职位、直属上级、电话、办公地点",
    "parameters": {"type": "object", "properties": {
      "employee_id": {"type": "string", "description": "工号，如 E20417"},
      "name": {"type": "string", "description": "员工姓名"},
      "department": {"type": "string", "description": "部门名称，用于区分同名员工"}}}}},
  {"type": "function", "function": {
    "name": "create_ticket",
    "description": "在内部服务台创建工单",
    "parameters": {"type": "object", "properties": {
      "title": {"type": "string", "description": "工单标题"},
      "description": {"type": "string", "description": "问题描述"},
      "assignee_group": {"type": "string", "description": "处理组，如 IT服务台、系统运维组、行政"},
      "priority": {"type": "string", "enum": ["low", "normal", "high"]}},
      "required": ["title", "description"]}}},
  {"type": "function", "function": {
    "name": "get_leave_balance",
    "description": "查询员工的假期余额",
    "parameters": {"type": "object", "properties": {
      "employee_id": {"type": "string"},
      "name": {"type": "string"},
      "leave_type": {"type": "string", "enum": ["annual", "compensatory", "sick"]}},
      "required": ["leave_type"]}}},
  {"type": "function", "function": {
    "name": "book_meeting_room",
    "description": "预订会议室",
    "parameters": {"type": "object", "properties": {
      "start": {"type": "string", "description": "开始时间，ISO 8601"},
      "end": {"type": "string", "description": "结束时间，ISO 8601"},
      "attendees": {"type": "integer"},
      "floor": {"type": "integer"},
      "needs_projector": {"type": "boolean"}},
      "required": ["start", "end", "attendees"]}}}
])json";

}  // namespace

std::span<const EnterprisePrompt> enterprise_prompts() { return kPrompts; }

std::string_view enterprise_tools_json() { return kToolsJson; }

}  // namespace hanlin::bench
