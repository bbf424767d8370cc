"""Services: Alibaba Cloud CLBs through the cloud controller's annotations."""

from __future__ import annotations

from typing import Any

from components.acs.manifests.args import LB, PORT, PRIVATE_SERVICE, PUBLIC_SERVICE, ManifestArgs, metadata
from components.acs.manifests.workload import serving_selector


def service(a: ManifestArgs, internet: bool, vswitch_id: Any = None, acl_id: Any = None, cert_id: Any = None) -> dict:
    """A CLB in front of the serving pod. Intranet: in the node vSwitch. Internet: only with an
    allowlist ACL (white list), which the CLB enforces at its listener; with `cert_id` (an SLB
    server certificate made from the CAS certificate) HTTPS on 443 only (cloud-provider-alibaba-cloud
    docs/usage.md: `protocol-port: "https:443"` with `cert-id`)."""
    annotations: dict[str, Any] = {
        f"{LB}address-type": "internet" if internet else "intranet",
        f"{LB}instance-charge-type": "PayByCLCU",
        # The LB gets its address long before the model loads: wait for the address only.
        "pulumi.com/waitFor": "jsonpath={.status.loadBalancer.ingress[0].ip}",
        "pulumi.com/timeoutSeconds": "900",
    }
    if internet:
        annotations |= {
            f"{LB}charge-type": "paybytraffic",
            f"{LB}acl-status": "on",
            f"{LB}acl-type": "white",
            f"{LB}acl-id": acl_id,
        }
        if cert_id is not None:
            annotations |= {f"{LB}protocol-port": "https:443", f"{LB}cert-id": cert_id}
    else:
        annotations[f"{LB}vswitch-id"] = vswitch_id
    https = internet and cert_id is not None
    port = {"name": "https", "port": 443, "targetPort": PORT, "protocol": "TCP"} if https else None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(a, PUBLIC_SERVICE if internet else PRIVATE_SERVICE, annotations=annotations),
        "spec": {
            "type": "LoadBalancer",
            # ACS does not support node ports (allocateLoadBalancerNodePorts true is a restricted
            # field; so are loadBalancerSourceRanges and externalTrafficPolicy other than Cluster).
            "allocateLoadBalancerNodePorts": False,
            "selector": serving_selector(a),
            "ports": [port or {"name": "http", "port": PORT, "targetPort": PORT, "protocol": "TCP"}],
        },
    }
