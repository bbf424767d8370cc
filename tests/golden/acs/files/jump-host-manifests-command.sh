#!/bin/bash
export LLM_MANIFESTS_HASH=605abbc64874ac98
export LLM_CLUSTER_ID=acs-cluster-id
export LLM_REGION=cn-wulanchabu
export LLM_ROLE_NAME=llm-acs-jump-host
export LLM_NAMESPACE=llm-model
export LLM_MANIFEST_DIR=/root/llm-k8s-resource
export LLM_ETC_DIR=/etc/llm
export LLM_MANIFESTS_TGZ_B64=H4sIAAAAAAACA+0aa3PbNjKf/Ssw6gdJU5F62FJddXwziZ3kerET13Eyc5PJuBAJSYhJgAFAKarP//12wYdJSrKTtE7SlJuJJeGx2Bd2F8CG0meBu6Jh8ODeoAcw2tuznwDVz1G/t5t9T9r7/eFe/wHpPfgCEGtDFSyvpDS3jbur/28KP5Awt4AxCamgM+aTyYqYOSOncRCHnICEvEvSpJ5uklYQhA4XU6aY8FjbJUeSCGkI87khc2gd7/xg5wr2wZDfowRDHP1OFFsqbpiGXq7JlAeMUOFDszZS2WZG5OQd84wmXNifXgDaYcoFlA+jKFghXXOcNFUyTPHIwGdqTC7jCcwMCLXjnGmBLZh9DshsQ1OTpVSXgaT+mHiAa8aIZmrBxQw+jYFPbdmwtCXIWkiKZsyHydNALtudhEVBPKpUIqkUFRdG2t+JyDwppnzWIVJtE8mCKWTXuDs04q+Z0lyKMa6ru4v+ziUXQOYRiwK5CpkwOyEz1KeGjncIETRkY/J++d7ZHUzS3zqiHjSijiy70BzQCQs0TiCI10VBKcFAES6X3Ygq48hpMiVXqx0MLV3LBtDjaWiiAhRNDVCYoks4cT0Zdg0PmYzNSwYs+3pMmnvDXq+5oyPm4VgFLHCPQkcffmkWgK6kSrCE1Hjz4wKVls4iZ9ooathslXSbVQQsnskgAGW9ikAcCb2q2JJhCumHl7GasWThtOWVoAvKQTABtPegPVJyBiaojxj1AQfL2dgb9LDfsDAKcqxFJVhBlWhfoz4dBNIECmFBNDd2MzjgEzqhXiBj30oS/kexYY4XUA0UzKJ4+1joTPTsAFLOYPjTV/vnT+5G/l7CWJ9NaRwYOzpTlP2O+8FjDz1PxsI8t2a2APoz5cRGhtjzsjTuXF4yMN0pDXTGHWzdkAtrMU8VGOYpECn9XLi7vXQc/DYUxK5yITqpdReWJYSHFBXJZtpRbMbBKlauJ5xlHFAB+28Su55ygeVVLDxt2YWhXUQx7rn77tCJVmB03nzgjhwv7g/2nEFvMOztDX7Ol4BJ4AL9G106ZRKcivYc0s33WreqcqpmuojJcexkP1UZcljo/W35G8x+VBoPtpoODpgo9DR3Bz+N9pulsdYWWCjVyokND/gfVu7FST335/IUw4SWygEfQIMAjYj/UaSo2S8PZwJ3jOPNY3EJXESKgRMPNg1RjGopYDOWOvNWXBFEUej0GYvAw15eqH6ZQgUBACaGEncESKLUO5faFBp6rv1XGhJJVRzS3O+hW8oamFgUFZTY3Ovj45OLh6e/Xjx7/N+8k5AFDWL2BOLOuNCIm8VTzDxjqzM2LfeQgg074N2dS7aqDIAWdPblLiRZr5M1NyYqTM/3zCkMHxPkq9ALDs1IT0JEPz88zdvBxclYeUwXCVXsfQwhWJeJ96IYnHh/1Cy1JvYFvnSw/5SXesSC+5xmTmlcsh1wfjzk97nCQkIgYifohjZILouE+Ro47pSa+fi23YuSof4LEQA1YIZsDa2v5+EWrD5bdIu9mGKaODpVcsKKUkCdPmWmLJgowTFnNDDzcs9GVZedar/YV43Kw0LfFCJgrNj5HKxiDkkU+ONRb6fIO1iX1t86zTcBli/YlyJ49/MJznoTk10LeGVbjTAhhAxYmNd2+GFAecn/eNiQROhiznerBW+0X0hwzOqIqyLyEHL6OByTE7snCx0YJ45xS4OcYJc+qOHvCxDFHd8eMBw87UCSjmnDX3shcMf5f9Af9ivn/yE01uf/L3P+v8UCvqsLgVv4BHSHCWZHezICftN1x3bVd3EYEUw2mxpPmYy08rP2jdslEhxtGzB59pyc3QjA/PCXTG523YSzsHzizw/7zzPMG87693Osx5DnO9yHKMPNyl07M3KBorBUNqVo7jiOs5n000q02sIBrLqRCyQsiYrVcdnh1KMgGKAxGY9WYg+E/cFPNlekHqS2+gSmWIwOOUvD3wkVGL6q0fSM2fB5KsEWIESeMUyod3LEh3gAT2JrE1NNT/NkYV9BqgEWJrWOgnjGhQtda3LbuYny/wYLDTZwvzFAJ1MeGqP4BI7qeYYwib1LyGJIuHIQz5Lx2dzotDNWgaXHKZ2HQfNg0oIGpVPxTikD+m3JRLd89pRgnupFhNbvSDB4/AsHRLm8sD031wDzc3sVo5SmaSPujuclTSNRdkAdar/R+M8XFA7X6aXPvbwE3BH/+6PhsBL/d4ejXh3/v1T8X7eA7yzwrzO4OYKlN5obApe9xEkRfZW79oz4CZBWwZtGHseGHgefNiYUQwBkM9T38V7bSe7MIRwoCtP+BEIugEz45kCAUTOWIj6lq0erw+PDV9VngSXl5okEpbzTUmDEObhyAYGJtYtoH6VoXS7s/fub3luXR9d3Pi78nF3ifR4TC73kxptDzjMG4zT4IFRoy9ONhLfjAp1rbxdrV/3r1/z5dd7aRV7lpsGgQE3lOq98kXcf/j+eQPpzr+7/zvPfYFB9/93dHe7V/v8L+f91C/i+3P86f5/n/S2ev7Pzt9P+6c6/RHtEV5MVBMXp1Gr2syXtBU7CWXpG/nOoEtqWc56+bH8+JoxwWb1DasBp+z8rytWwDVK13t/l70fUf41+qp7/9vp1/P9S8X+bBXxXScA2JtPasPy5k/xHTggg4mEYG6xl+IXQ9CrXL5SUEfBhGnoEW9oZloJEPm6K8qUtDNCl53/SQnLxSiyp6sBlmWoT9oFrYy+QK7x2YIUFU9hKrZDcW1OXtBRnSwbzdWrEbr1bxiDiiM0Xhh9TZ/TRd9H25fSOK/V7Fk4WcO+6pt5y/ZzcCz/feI1eKeyolnRUbsqrQptgAd5NuSHY8/Y6Q2uyK4fS/mi0t7873f/GCw/B2C7ldJq+Vves+A1fsL++0s/JfchaQR06NWA3e2h4jlv6k4vpthfJeXPmXX7lKjmYNJdit1h75RV+/K9QPcBDTAntoaADvrBD9Ar+oB47+I4BLsJNDbgwCTo6if8lBzDJZWLBlRRvGlis9ersuPG2s9Z88uLoMXQUsPip1gEHrufin1ab/IiHo1Z1+tHjh0fHvz5/fPGy8bZdQDKR/goQIP2uH4eRbl01LGWNtHyjQxqwITSoQUPTm6sGejn41oghW25AL6oSPBM2vaQr8uKZ27h+26nUhlWgEdIPFwbNApH2R4AGbZUpOHUoxN67bgP9WCPXKlJLDQ4zQHCxZgXOFhBwz1XMqjVr2fgfD0i/0gVaATRlFblnyWfLKgj3ygHKpwPBH0ObPrjawFbjMBGAg+9HKIVCVO6iXFFID2OwKJWWMeKgR4wqCIUNUFdRVWmlXuPtdbuyFFj+eMPqS27mVS7gp4yYaMHvTlbQczDq9dqEaqLGW1RDhV4CRakt4BmrpdobxvJpOtSFtKHV8OYSdrputLfhjRTa47RhfS2hU0gEyFWqmOtMQy3dHpMra3DXKXrmg+CmkDnMD1C17S3oYb+5kHGYVm/TiGzxzBDyhceQ2ZGU9ixNSda9dVX2wWOA5rH9AFWiRME/kR9sohhHZIWvmrAlRPLKDGY2hY3id8iwt5sr49MIvcJDbQvy0YsLdJEXF9gGnhCa3ozB0b+9vpVk0FfRPfwr9xvjrWQ0ZnTBgJtESBKCCLPMoLGBrCr+5C4t5Rrqr9k00qUDxqJWf9i+vZA1dY3VGtbkbD7udotvGm4euV298Nws1Q6kR4MxntMhP+hC+DDdG+b0xhWt111fc728+WbKjWTW5zV3R8WK3WzaV6zP/fQq2i0lrqUC11tKZLdPr68vaqihhhpqqKGGGmqooYYaaqihhhpqqKGGGmqooYYaaqjA/wGvgyI/AFAAAA==
set -euo pipefail

archive=${LLM_MANIFESTS_TGZ_B64:?LLM_MANIFESTS_TGZ_B64 is required}
hash=${LLM_MANIFESTS_HASH:?LLM_MANIFESTS_HASH is required}
dir=${LLM_MANIFEST_DIR:?LLM_MANIFEST_DIR is required}
etc_dir=${LLM_ETC_DIR:?LLM_ETC_DIR is required}
: "${LLM_CLUSTER_ID:?}" "${LLM_REGION:?}" "${LLM_ROLE_NAME:?}" "${LLM_NAMESPACE:?}"

mkdir -p "$dir" "$etc_dir"
umask 022
cat > "$etc_dir/jump-host.env" <<ENV
LLM_CLUSTER_ID=$LLM_CLUSTER_ID
LLM_REGION=$LLM_REGION
LLM_ROLE_NAME=$LLM_ROLE_NAME
LLM_NAMESPACE=$LLM_NAMESPACE
ENV

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s' "$archive" | base64 -d | tar -xz -C "$tmp"
if [[ -f $dir/.managed-files ]]; then
  while IFS= read -r old; do
    [[ -n $old && ! -e $tmp/$old ]] && rm -f -- "${dir:?}/$old"
  done < "$dir/.managed-files"
fi
(cd "$tmp" && ls -1) > "$tmp/.managed-files"
for f in "$tmp"/* "$tmp/.managed-files"; do
  install -m 0644 "$f" "$dir/$(basename "$f")"
done
echo "$hash" > "$dir/.manifests-hash"
echo "manifests $hash written to $dir:"
ls -l "$dir"
