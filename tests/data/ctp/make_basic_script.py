"""Write basic_profile.script: PS3.15 Table E.1-1's Basic profile (the edition dicomveil ships)
as an RSNA CTP DicomAnonymizer script, in the shape of CTP's own scripts (parameters, one <e>
per attribute, <r> for the curves, overlays and private groups), for the tests of the CTP
loader. Generated from the shipped table, not copied from CTP:

    python tests/data/ctp/make_basic_script.py > tests/data/ctp/basic_profile.script

How each code is written (CTP has no IOD knowledge, so the compound codes take dicomveil's
fixed choice without one: X/Z -> empty, X/D X/Z/D Z/D -> a dummy):

- X: @remove(); Z and X/Z: @empty(); K: @keep(); U: @hashuid(@UIDROOT,this);
- D, X/D, X/Z/D, Z/D: a dummy literal valid for the VR (ANONYMIZED, 19000101, 000000, 0,
  000Y), @hashuid on a UID, @empty() on a sequence or a binary value (CTP writes text only);
- X/Z/U*: @process() (the items go through the script, their UIDs through @hashuid);
- the pattern rows: <r t="curves">, <r t="overlays">, <r t="privategroups">.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from dicomveil import _core

DUMMY = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
}
TEXT = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}


def script_of(code: str, vr: str) -> str:
    vr = vr.split(" ")[0]
    if code == "X":
        return "@remove()"
    if code in ("Z", "X/Z"):
        return "@empty()"
    if code == "K":
        return "@keep()"
    if code == "U" or (vr == "UI" and code in ("D", "X/D", "X/Z/D", "Z/D")):
        return "@hashuid(@UIDROOT,this)"
    if code == "X/Z/U*":
        return "@process()"
    if vr in DUMMY:
        return DUMMY[vr]
    if vr in TEXT:
        return "ANONYMIZED"
    return "@empty()"


def main() -> None:
    lines = [
        "<script>",
        ' <p t="UIDROOT">1.2.826.0.1.3680043.10.999</p>',
        ' <p t="PROFILENAME">PS3.15 Basic Application Level Confidentiality Profile</p>',
    ]
    removals = set()
    for tag, keyword, _name, vr, actions in sorted(_core.table_rows()):
        code = actions[0]
        if "x" in tag or "g" in tag:
            removals.add(
                "curves"
                if tag.startswith("50")
                else "overlays"
                if tag.startswith("60")
                else "privategroups"
            )
            continue
        t = tag.replace(",", "").upper()
        lines.append(f' <e en="T" t="{t}" n="{keyword}">{escape(script_of(code, vr))}</e>')
    lines.append(' <k en="F" t="safeprivateelements">Keep safe private elements</k>')
    names = {
        "curves": "Remove curves",
        "overlays": "Remove overlays",
        "privategroups": "Remove private groups",
    }
    for r in sorted(removals):
        lines.append(f' <r en="T" t="{r}">{names[r]}</r>')
    lines.append(' <r en="F" t="unspecifiedelements">Remove unchecked elements</r>')
    lines.append("</script>")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
