#!/bin/bash
# llm-inference (release 2): nothing is installed at first boot. Host setup (drivers, Docker,
# Fabric Manager, eRDMA, the model disk, the systemd units) is the Cloud Assistant phase
# llm:host:HostSetup (userdata/host-setup.sh), which can change without a reboot.
mkdir -p /var/lib/llm
date -u +%FT%TZ >/var/lib/llm/first-boot
