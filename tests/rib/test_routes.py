"""Export attributes: the per-session encoder writes exactly what the generic codec writes for the
attributes RFC 4271 §5.1 asks for."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from bgpd.rib.routes import IBGP_LOCAL_PREF, ExportPolicy, Path, classic_next_hop
from bgpd.wire.attributes import AsSegment, Attributes, encode_attributes
from bgpd.wire.constants import IPV4_UNICAST, IPV6_UNICAST, AsPathSegmentType, Family, Origin
from bgpd.wire.context import CodecContext

_u32 = st.integers(0, 2**32 - 1)
_next_hops = st.one_of(
    st.integers(0x01000000, 0xDFFFFFFF).map(ipaddress.IPv4Address),
    st.integers(0x20000000 << 96, (0x3FFFFFFF << 96) - 1).map(ipaddress.IPv6Address),
)


def expected(policy: ExportPolicy, path: Path, family: Family, ctx: CodecContext) -> Attributes:
    """RFC 4271 §5.1, written out: ORIGIN IGP; our ASN as AS_PATH towards eBGP, empty towards
    iBGP; NEXT_HOP only for an IPv4 route via an IPv4 address; LOCAL_PREF on iBGP; the path's MED
    and communities; the RFC 6793 §4.2.2 form towards a 2-octet peer."""
    attrs = Attributes(
        origin=Origin.IGP,
        as_path=() if policy.ibgp else (AsSegment(AsPathSegmentType.AS_SEQUENCE, (policy.local_asn,)),),
        next_hop=int(path.next_hop) if family == IPV4_UNICAST and path.next_hop.version == 4 else None,
        med=path.med,
        local_pref=IBGP_LOCAL_PREF if policy.ibgp else None,
        communities=path.communities,
    )
    return attrs if ctx.four_octet_as else attrs.for_two_octet_peer()


@given(
    st.builds(ExportPolicy, st.integers(1, 2**32 - 1), st.booleans()),
    st.builds(Path, _next_hops, st.none() | _u32, st.lists(_u32, max_size=70).map(tuple)),
    st.sampled_from([IPV4_UNICAST, IPV6_UNICAST]),
    st.builds(CodecContext, four_octet_as=st.booleans()),
)
def test_encoder_writes_what_the_codec_writes(
    policy: ExportPolicy, path: Path, family: Family, ctx: CodecContext
) -> None:
    encoded = policy.encoder(ctx).encode(path, classic_next_hop(family, path))
    assert encoded == encode_attributes(expected(policy, path, family, ctx), ctx)
    assert classic_next_hop(family, path) == (family == IPV4_UNICAST and path.next_hop.version == 4)
