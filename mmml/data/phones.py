"""Phone inventory for the formant synthesiser in :mod:`mmml.data.synth`.

Target formants F1-F3 and bandwidths B1-B3 (Hz) of an adult male reference talker, after the
vowel measurements of Peterson & Barney (1952, JASA 24(2)) / Hillenbrand et al. (1995, JASA 97(5))
and the consonant parameter tables of Klatt (1980), "Software for a cascade/parallel formant
synthesizer", JASA 67(3). A speaker's ``vtl`` factor scales every frequency in this table.

Example::

    >>> from mmml.data.phones import PHONES
    >>> PHONES["iy"].formants
    (270.0, 2290.0, 3010.0)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phone:
    """One phone: formant targets, source amplitudes and mean duration (seconds, normal rate).

    ``formants``/``bandwidths`` are (F1, F2, F3)/(B1, B2, B3) in Hz; ``end_formants`` makes a
    diphthong glide from ``formants`` to it. ``voice``, ``fric`` and ``asp`` are the relative
    amplitudes of the glottal source, the band-passed frication noise (band ``band``, Hz) and the
    aspiration noise through the cascade. ``kind`` is one of vowel, diphthong, approximant, nasal,
    fricative, stop; stops are rendered as closure + burst (band ``band``) + aspiration.
    """

    kind: str
    formants: tuple[float, float, float]
    bandwidths: tuple[float, float, float] = (80.0, 90.0, 150.0)
    dur: float = 0.1
    voice: float = 1.0
    fric: float = 0.0
    asp: float = 0.0
    band: tuple[float, float] = (0.0, 0.0)
    end_formants: tuple[float, float, float] | None = None


def _v(f, d, b=(80.0, 90.0, 150.0)):
    return Phone("vowel", f, b, dur=d)


def _dip(f, g, d):
    return Phone("diphthong", f, (80.0, 90.0, 150.0), dur=d, end_formants=g)


PHONES: dict[str, Phone] = {
    # monophthongs
    "iy": _v((270.0, 2290.0, 3010.0), 0.17, (60.0, 100.0, 180.0)),
    "ih": _v((390.0, 1990.0, 2550.0), 0.09),
    "eh": _v((530.0, 1840.0, 2480.0), 0.11),
    "ae": _v((660.0, 1720.0, 2410.0), 0.15),
    "ah": _v((640.0, 1190.0, 2390.0), 0.10),
    "aa": _v((730.0, 1090.0, 2440.0), 0.16, (90.0, 90.0, 160.0)),
    "ao": _v((570.0, 840.0, 2410.0), 0.17),
    "uw": _v((300.0, 870.0, 2240.0), 0.18, (65.0, 90.0, 160.0)),
    "er": _v((490.0, 1350.0, 1690.0), 0.14),
    # diphthongs: glide between two targets
    "ay": _dip((720.0, 1200.0, 2550.0), (400.0, 1950.0, 2600.0), 0.22),
    "ey": _dip((480.0, 1850.0, 2500.0), (320.0, 2170.0, 2700.0), 0.19),
    "ow": _dip((540.0, 950.0, 2400.0), (360.0, 780.0, 2320.0), 0.20),
    # approximants
    "w": Phone("approximant", (290.0, 610.0, 2150.0), (60.0, 80.0, 150.0), dur=0.07, voice=0.8),
    "r": Phone("approximant", (310.0, 1060.0, 1380.0), (70.0, 100.0, 120.0), dur=0.07, voice=0.85),
    "l": Phone("approximant", (310.0, 1050.0, 2880.0), (50.0, 100.0, 280.0), dur=0.07, voice=0.8),
    "j": Phone("approximant", (260.0, 2070.0, 3020.0), (40.0, 250.0, 500.0), dur=0.07, voice=0.85),
    # nasals (murmur; the synthesiser adds a nasal pole/zero pair)
    "n": Phone("nasal", (280.0, 1600.0, 2600.0), (100.0, 300.0, 300.0), dur=0.08, voice=0.55),
    "m": Phone("nasal", (280.0, 1100.0, 2150.0), (100.0, 300.0, 300.0), dur=0.08, voice=0.55),
    # fricatives: noise band in Hz (reference talker); voiced ones mix glottal source
    "f": Phone("fricative", (340.0, 1100.0, 2080.0), (200.0, 120.0, 150.0), 0.11, 0.0, 0.12, 0.0,
               (1200.0, 7000.0)),
    "v": Phone("fricative", (220.0, 1100.0, 2080.0), (60.0, 90.0, 120.0), 0.07, 0.45, 0.08, 0.0,
               (1200.0, 7000.0)),
    "th": Phone("fricative", (320.0, 1290.0, 2540.0), (200.0, 90.0, 200.0), 0.11, 0.0, 0.10, 0.0,
                (1500.0, 7000.0)),
    "s": Phone("fricative", (320.0, 1390.0, 2530.0), (200.0, 80.0, 200.0), 0.13, 0.0, 0.45, 0.0,
               (3500.0, 7500.0)),
    "z": Phone("fricative", (240.0, 1520.0, 2480.0), (70.0, 60.0, 180.0), 0.10, 0.45, 0.25, 0.0,
               (3500.0, 7500.0)),
    # stops: formants are the loci; band is the burst band
    "t": Phone("stop", (200.0, 1700.0, 2600.0), (200.0, 120.0, 250.0), 0.09, 0.0, 0.6, 0.35,
               (2500.0, 6000.0)),
    "k": Phone("stop", (300.0, 1900.0, 2200.0), (250.0, 140.0, 250.0), 0.10, 0.0, 0.5, 0.35,
               (1500.0, 3300.0)),
}
