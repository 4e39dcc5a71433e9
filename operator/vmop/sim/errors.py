"""The simulator's refusals: a scode with both messages, as the platform sends them."""

from __future__ import annotations

from vmop.compute.scodes import Scode

MESSAGES: dict[int, tuple[str, str]] = {
    Scode.HOST_CPU_BLOAT_LIMIT: ("host do not satisfy cpu bloat limitation", "主机不满足CPU超分配限制"),
    Scode.NOT_CLONING: ("vm is not cloning", "虚拟机不在克隆中"),
    Scode.NOT_EXPORTING: ("vm is not exporting", "虚拟机不在导出中"),
    Scode.IMPORT_IMAGE_FAILED: ("Unified create Vm import image failure", "创建虚拟机导入镜像失败"),
    Scode.INVALID_PARAMETER: ("invalid parameter", "参数错误"),
    Scode.UNSUPPORTED_ENDPOINT: ("unsupported by the simulator", "模拟器不支持该接口"),
    Scode.UNAUTHORIZED: ("unauthorized", "未授权"),
    Scode.INTERNAL_ERROR: ("internal error", "内部错误"),
    Scode.VM_NOT_FOUND: ("vm not found", "虚拟机不存在"),
    Scode.VM_STATE_INVALID: ("vm state does not allow this operation", "虚拟机状态不允许该操作"),
    Scode.VM_ACTION_IN_PROGRESS: ("vm has an action in progress", "虚拟机当前有动作"),
    Scode.AGENT_NOT_CONNECTED: ("guest agent not connected", "Agent未连接"),
    Scode.VM_UUID_CONFLICT: ("vm uuid already exists", "虚拟机uuid已存在"),
    Scode.CPU_INVALID: ("invalid cpu setting", "CPU设置错误"),
    Scode.MEMORY_INVALID: ("invalid memory setting", "内存设置错误"),
    Scode.DISK_DEVICE_INVALID: ("invalid disk device", "磁盘盘符错误"),
    Scode.DISK_DEVICE_IN_USE: ("disk device in use", "磁盘盘符已被使用"),
    Scode.DISK_HOT_DETACH_UNSUPPORTED: ("only scsi disks can be detached while running", "只有scsi磁盘支持热卸载"),
    Scode.DISK_SOURCE_INVALID: ("invalid disk source", "磁盘源错误"),
    Scode.DISK_NOT_FOUND: ("disk not found", "磁盘不存在"),
    Scode.INTERFACE_NOT_FOUND: ("interface not found", "网卡不存在"),
    Scode.INTERFACE_VPC_UNSUPPORTED: ("vpc network interfaces cannot be changed", "不支持更改VPC网络网卡"),
    Scode.DEVICE_NOT_FOUND: ("device not found", "设备不存在"),
    Scode.DEVICE_IN_USE: ("device in use", "设备已被使用"),
    Scode.PASSTHROUGH_HA_CONFLICT: ("passthrough devices exclude high availability", "透传设备与高可用互斥"),
    Scode.PASSTHROUGH_PINS_HOST: (
        "vm with passthrough devices is bound to its host",
        "虚拟机有透传设备，限制在当前主机运行",
    ),
    Scode.USB_PORT_INVALID: ("invalid usb bus or port", "usb总线或端口错误"),
    Scode.VIDEO_INVALID: ("invalid video device", "显示设备错误"),
    Scode.HOST_NOT_FOUND: ("host not found", "主机不存在"),
    Scode.HOST_UNREACHABLE: ("destination host unreachable", "目的主机无法连接"),
    Scode.MIGRATION_FAILED: ("migration failed", "迁移失败"),
    Scode.TEMPLATE_NOT_FOUND: ("vm template not found", "虚拟机模板不存在"),
    Scode.CLUSTER_NOT_FOUND: ("cluster not found", "集群不存在"),
    Scode.TENANT_NOT_FOUND: ("tenant not found", "租户不存在"),
    Scode.ZONE_NOT_FOUND: ("zone not found", "资源池不存在"),
    Scode.POOL_NOT_FOUND: ("storage pool not found", "存储池不存在"),
    Scode.GROUP_NOT_FOUND: ("vm group not found", "虚拟机分组不存在"),
    Scode.GROUP_DEPTH_EXCEEDED: ("vm group nesting exceeds 5 levels", "虚拟机分组嵌套超过5层"),
    Scode.GROUP_DEFAULT_NO_CHILDREN: ("cannot create a child group under default", "无法在default分组下创建子分组"),
    Scode.GROUP_NAME_CONFLICT: ("vm group name conflicts with a sibling", "虚拟机分组名称与同级分组冲突"),
    Scode.GROUP_NOT_EMPTY: ("vm group or a nested group holds vms", "虚拟机分组非空"),
    Scode.GROUP_DEFAULT_UNDELETABLE: ("the default group cannot be deleted", "无法删除default分组"),
    Scode.GROUP_MOVE_INTO_SELF: ("cannot move a group under itself", "无法将分组移动到自身之下"),
}


class SimError(Exception):
    """A refusal, sent back as an ``Output`` with this scode; ``desc`` says what exactly."""

    def __init__(self, scode: int, desc: str = "") -> None:
        self.scode = scode
        self.message, self.message_cn = MESSAGES.get(scode, (f"error {scode}", f"错误 {scode}"))
        self.desc = desc
        super().__init__(f"scode {scode}: {self.message} - {desc}")
