"""Test objects of ten IODs, built with pydicom, each valid for dciodvfy and full of identity.

One builder per IOD (see ``BUILDERS``): each returns a new pydicom ``FileDataset`` (a Part 10
file once written with ``write``) of a fake patient, with the identifying attributes that
matter for de-identification in that IOD, above all those the IOD requires while PS3.15
Table E.1-1 removes or empties them (e.g. Presentation Creation Date, Type 1 in the
Presentation State Identification module, X in the Basic profile). Everything is fixed: UIDs
are computed from names under 2.25 (``uid``), dates and times are written out, pixel data is
a small gradient, so two runs write the same bytes.

The objects are meant to be conformant for dciodvfy (dicom3tools) on input: the test
(``test_conformance.py``) checks that dciodvfy reports no Error line for them, and that
anonymizing them adds none. Names, IDs and places are invented.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

# ---------------------------------------------------------------------------------------------
# SOP classes (PS3.4 Annex B)
# ---------------------------------------------------------------------------------------------

GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
RT_STRUCTURE_SET = "1.2.840.10008.5.1.4.1.1.481.3"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
TWELVE_LEAD_ECG = "1.2.840.10008.5.1.4.1.1.9.1.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
MPPS = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step SOP Class
DETACHED_STUDY = "1.2.840.10008.3.1.2.3.1"  # retired, still what Referenced Study Sequence names

# ---------------------------------------------------------------------------------------------
# Fixed values
# ---------------------------------------------------------------------------------------------


def uid(name: str) -> str:
    """A UID under 2.25 computed from ``name``: the same name gives the same UID, always."""
    digest = hashlib.sha256(b"dicomveil test objects/" + name.encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


IMPLEMENTATION_CLASS_UID = uid("implementation")
STUDY_UID = uid("study")
FRAME_OF_REFERENCE_UID = uid("frame of reference")
CT_SERIES_UID = uid("ct series")  # a conventional CT series the other objects refer to
CT_IMAGE_UIDS = [uid(f"ct image {i}") for i in range(1, 4)]
LOCALIZER_SERIES_UID = uid("localizer series")
LOCALIZER_UID = uid("localizer image")
MPPS_UID = uid("mpps")
PRIOR_STUDY_UID = uid("prior study")

PATIENT_NAME = "MOREAU^Camille^Ines"
PATIENT_ID = "MRN-4711-0815"
PATIENT_BIRTH_DATE = "19580612"
STUDY_DATE = "20240315"
STUDY_TIME = "093012"
ACCESSION = "ACC240315001"
INSTITUTION = "Hopital Saint-Exemple"
INSTITUTION_ADDRESS = "12 Rue des Tilleuls, 69003 Lyon, France"


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def sop_ref(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


def _person_id(name: str, value: str) -> Dataset:
    """A Person Identification Code Sequence item (PS3.3 Table 10-1)."""
    item = Dataset()
    item.PersonIdentificationCodeSequence = Sequence([code(value, "99HSE", name)])
    item.InstitutionName = INSTITUTION
    return item


def hierarchical_ref(study: str, series: str, refs: list[tuple[str, str]]) -> Dataset:
    """An item of the Hierarchical SOP Instance Reference Macro (PS3.3 Table C.17-3)."""
    series_item = Dataset()
    series_item.SeriesInstanceUID = series
    series_item.ReferencedSOPSequence = Sequence([sop_ref(c, i) for c, i in refs])
    item = Dataset()
    item.StudyInstanceUID = study
    item.ReferencedSeriesSequence = Sequence([series_item])
    return item


def gradient(rows: int, cols: int, frames: int = 1, dtype: type = np.uint16) -> bytes:
    """Small deterministic pixel data: a gradient per frame."""
    y, x = np.mgrid[0:rows, 0:cols]
    planes = [((x + y * 2 + f * 7) % 200) for f in range(frames)]
    return np.stack(planes).astype(dtype).tobytes()


# ---------------------------------------------------------------------------------------------
# Modules every object shares
# ---------------------------------------------------------------------------------------------


def new_dataset(sop_class: str, name: str) -> FileDataset:
    """An empty Part 10 dataset of ``sop_class``, its SOP Common module filled."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid(name + " instance")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = "DVTESTOBJ_1"
    ds = FileDataset(name, Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.InstanceCreationDate = STUDY_DATE
    ds.InstanceCreationTime = "101502"
    ds.InstanceCreatorUID = uid("instance creator")
    ds.TimezoneOffsetFromUTC = "+0100"
    return ds


def add_patient(ds: Dataset) -> None:
    """Patient module (and Patient Study): name, IDs, birth date, sex, size, weight."""
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.IssuerOfPatientID = "HSE-LYON"
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.PatientBirthTime = "041500"
    ds.PatientSex = "F"
    ds.OtherPatientIDs = "ALT-99812"  # retired in the Patient module; still met in files
    other = Dataset()
    other.PatientID = "ALT-99812"
    other.IssuerOfPatientID = "CHU-NORD"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.EthnicGroup = "EUROPEAN"
    ds.PatientComments = "Daughter Lea Moreau to be called on results, +33 4 72 00 00 00"
    # Patient Study module
    ds.PatientAge = "065Y"
    ds.PatientSize = "1.68"
    ds.PatientWeight = "72.5"
    ds.Occupation = "Librarian"
    ds.AdditionalPatientHistory = "Camille Moreau, former smoker; MRN-4711-0815"


def add_study(ds: Dataset) -> None:
    """General Study module."""
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.ReferringPhysicianName = "LEFEBVRE^Antoine^^Dr."
    ds.StudyID = "S7735"
    ds.AccessionNumber = ACCESSION
    ds.StudyDescription = "Thorax follow-up for MOREAU Camille"
    ds.PhysiciansOfRecord = "GIRARD^Sophie"
    ds.NameOfPhysiciansReadingStudy = "BONNET^Marc"
    ds.ReferencedStudySequence = Sequence([sop_ref(DETACHED_STUDY, PRIOR_STUDY_UID)])


def add_series(
    ds: Dataset, modality: str, name: str, number: int, time: str, *, kind: str = "general"
) -> None:
    """General Series module; ``kind`` "rt", "sr" or "doc": the RT, SR Document or Encapsulated
    Document Series module instead, with only the attributes each has."""
    ds.Modality = modality
    ds.SeriesInstanceUID = uid(name + " series")
    ds.SeriesNumber = number
    ds.SeriesDate = STUDY_DATE
    ds.SeriesTime = time
    ds.SeriesDescription = f"{modality} series of Camille Moreau"
    if kind == "general":
        ds.PerformingPhysicianName = "ROUX^Nadia"
    if kind in ("general", "rt"):
        ds.OperatorsName = "FAURE^Julien"
        ds.OperatorIdentificationSequence = Sequence([_person_id("FAURE^Julien", "JF17")])
    ds.ReferencedPerformedProcedureStepSequence = Sequence([sop_ref(MPPS, MPPS_UID)])
    if kind == "sr":
        return
    request = Dataset()
    request.RequestedProcedureID = "RP-88213"
    request.ScheduledProcedureStepID = "SPS-88213-1"
    request.ScheduledProcedureStepDescription = "Thorax follow-up"
    request.AccessionNumber = ACCESSION
    request.RequestedProcedureDescription = "CT thorax for Camille Moreau"
    request.ReferencedStudySequence = Sequence([sop_ref(DETACHED_STUDY, STUDY_UID)])
    ds.RequestAttributesSequence = Sequence([request])
    ds.PerformedProcedureStepID = "PPS-88213-1"
    ds.PerformedProcedureStepStartDate = STUDY_DATE
    ds.PerformedProcedureStepStartTime = STUDY_TIME
    ds.PerformedProcedureStepDescription = "Thorax follow-up"


def add_equipment(ds: Dataset, station: str, model: str) -> None:
    """General Equipment module."""
    ds.Manufacturer = "ACME Medical"
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = INSTITUTION_ADDRESS
    ds.StationName = station
    ds.InstitutionalDepartmentName = "Radiologie Nord"
    ds.ManufacturerModelName = model
    ds.DeviceSerialNumber = "SN-0049311"
    ds.SoftwareVersions = "VX 2.1.4"
    ds.DateOfLastCalibration = "20240301"
    ds.TimeOfLastCalibration = "070000"


def add_private(ds: Dataset, *, safe: bool = False) -> None:
    """A private block of identifying values; with ``safe``, also one PS3.15 E.3.10-1 lists."""
    block = ds.private_block(0x0009, "ACME_PRIVATE_1", create=True)
    block.add_new(0x01, "LO", "MOREAU Camille MRN-4711-0815")
    block.add_new(0x02, "DA", "19580612")
    block.add_new(0x03, "SH", "CTROOM3")
    if safe:  # (0019,xx23) Table Speed, GEMS_ACQU_01: DS, listed as safe
        gems = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        gems.add_new(0x23, "DS", "39.375")


def common(
    sop_class: str,
    name: str,
    modality: str,
    number: int,
    time: str,
    station: str,
    model: str,
    *,
    series: str = "general",
) -> FileDataset:
    ds = new_dataset(sop_class, name)
    add_patient(ds)
    add_study(ds)
    add_series(ds, modality, name, number, time, kind=series)
    add_equipment(ds, station, model)
    return ds


def image_pixel(ds: Dataset, rows: int, cols: int, frames: int = 1, bits: int = 16) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = bits
    ds.BitsStored = 12 if bits == 16 else 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = gradient(rows, cols, frames, np.uint16 if bits == 16 else np.uint8)


# ---------------------------------------------------------------------------------------------
# Grayscale Softcopy Presentation State
# ---------------------------------------------------------------------------------------------


def gsps() -> FileDataset:
    ds = common(GSPS, "gsps", "PR", 901, "103000", "RADWS07", "ACME Viewer")
    ds.BodyPartExamined = "CHEST"
    # Presentation State Identification: creation date and time Type 1, E.1-1 X
    ds.InstanceNumber = 1
    ds.ContentLabel = "MOREAU_NODULE"
    ds.ContentDescription = "Nodule measured for Dr Lefebvre"
    ds.PresentationCreationDate = STUDY_DATE
    ds.PresentationCreationTime = "102955"
    ds.ContentCreatorName = "BONNET^Marc"
    ds.ContentCreatorIdentificationCodeSequence = Sequence([_person_id("BONNET^Marc", "MB42")])
    # Presentation State Relationship
    images = [sop_ref(CT_IMAGE, u) for u in CT_IMAGE_UIDS]
    series = Dataset()
    series.SeriesInstanceUID = CT_SERIES_UID
    series.ReferencedImageSequence = Sequence(images)
    ds.ReferencedSeriesSequence = Sequence([series])
    # Displayed Area
    area = Dataset()
    area.ReferencedImageSequence = Sequence([sop_ref(CT_IMAGE, u) for u in CT_IMAGE_UIDS])
    area.DisplayedAreaTopLeftHandCorner = [1, 1]
    area.DisplayedAreaBottomRightHandCorner = [512, 512]
    area.PresentationSizeMode = "SCALE TO FIT"
    area.PresentationPixelAspectRatio = [1, 1]
    ds.DisplayedAreaSelectionSequence = Sequence([area])
    # Graphic Annotation, with a text that names the patient, and its Graphic Layer
    text = Dataset()
    text.UnformattedTextValue = "MOREAU Camille: nodule 8 mm"
    text.AnchorPointAnnotationUnits = "PIXEL"
    text.AnchorPoint = [200.0, 180.0]
    text.AnchorPointVisibility = "Y"
    text.BoundingBoxAnnotationUnits = "PIXEL"
    text.BoundingBoxTopLeftHandCorner = [210.0, 150.0]
    text.BoundingBoxBottomRightHandCorner = [400.0, 170.0]
    text.BoundingBoxTextHorizontalJustification = "LEFT"
    graphic = Dataset()
    graphic.GraphicAnnotationUnits = "PIXEL"
    graphic.GraphicDimensions = 2
    graphic.NumberOfGraphicPoints = 2
    graphic.GraphicData = [190.0, 170.0, 210.0, 190.0]
    graphic.GraphicType = "POLYLINE"
    graphic.GraphicFilled = "N"
    annotation = Dataset()
    annotation.ReferencedImageSequence = Sequence([sop_ref(CT_IMAGE, CT_IMAGE_UIDS[1])])
    annotation.GraphicLayer = "MEASUREMENTS"
    annotation.TextObjectSequence = Sequence([text])
    annotation.GraphicObjectSequence = Sequence([graphic])
    ds.GraphicAnnotationSequence = Sequence([annotation])
    layer = Dataset()
    layer.GraphicLayer = "MEASUREMENTS"
    layer.GraphicLayerOrder = 1
    layer.GraphicLayerRecommendedDisplayGrayscaleValue = 0xFFFF
    layer.GraphicLayerDescription = "Measurements by Dr Bonnet"
    ds.GraphicLayerSequence = Sequence([layer])
    # Modality LUT, Softcopy VOI LUT, Softcopy Presentation LUT
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    voi = Dataset()
    voi.ReferencedImageSequence = Sequence([sop_ref(CT_IMAGE, u) for u in CT_IMAGE_UIDS])
    voi.WindowCenter = "-600"
    voi.WindowWidth = "1500"
    ds.SoftcopyVOILUTSequence = Sequence([voi])
    ds.PresentationLUTShape = "IDENTITY"
    add_private(ds)
    return ds


# ---------------------------------------------------------------------------------------------
# Comprehensive SR
# ---------------------------------------------------------------------------------------------


def _item(relationship: str, value_type: str, concept: Dataset) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([concept])
    return item


def _container(relationship: str, concept: Dataset, children: list[Dataset]) -> Dataset:
    item = _item(relationship, "CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = Sequence(children)
    return item


def comprehensive_sr() -> FileDataset:
    ds = common(
        COMPREHENSIVE_SR, "sr", "SR", 902, "113000", "RADWS07", "ACME Reporting", series="sr"
    )
    # SR Document General
    ds.InstanceNumber = 1
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = "112512"
    observer = Dataset()
    observer.VerifyingObserverName = "BONNET^Marc"
    observer.VerifyingObserverIdentificationCodeSequence = Sequence(
        [code("MB42", "99HSE", "BONNET^Marc")]
    )
    observer.VerifyingOrganization = INSTITUTION
    observer.VerificationDateTime = STUDY_DATE + "113412"
    ds.VerifyingObserverSequence = Sequence([observer])
    author = Dataset()
    author.ObserverType = "PSN"
    author.PersonName = "BONNET^Marc"
    author.PersonIdentificationCodeSequence = Sequence([code("MB42", "99HSE", "BONNET^Marc")])
    author.InstitutionName = INSTITUTION
    author.InstitutionCodeSequence = Sequence([code("HSE", "99HSE", INSTITUTION)])
    ds.AuthorObserverSequence = Sequence([author])
    request = Dataset()
    request.StudyInstanceUID = STUDY_UID
    request.ReferencedStudySequence = Sequence([sop_ref(DETACHED_STUDY, PRIOR_STUDY_UID)])
    request.AccessionNumber = ACCESSION
    request.PlacerOrderNumberImagingServiceRequest = "PO-55120"
    request.FillerOrderNumberImagingServiceRequest = "FO-77831"
    request.RequestedProcedureID = "RP-88213"
    request.RequestedProcedureDescription = "CT thorax for Camille Moreau"
    request.RequestedProcedureCodeSequence = Sequence([code("24627-2", "LN", "CT Chest")])
    ds.ReferencedRequestSequence = Sequence([request])
    ds.PerformedProcedureCodeSequence = Sequence([code("24627-2", "LN", "CT Chest")])
    ds.CurrentRequestedProcedureEvidenceSequence = Sequence(
        [hierarchical_ref(STUDY_UID, CT_SERIES_UID, [(CT_IMAGE, u) for u in CT_IMAGE_UIDS])]
    )
    # SR Document Content: a tree four levels deep with every value type the profile touches
    observer_name = _item("HAS OBS CONTEXT", "PNAME", code("121008", "DCM", "Person Observer Name"))
    observer_name.PersonName = "BONNET^Marc"
    study_ref = _item(
        "HAS OBS CONTEXT", "UIDREF", code("121018", "DCM", "Procedure Study Instance UID")
    )
    study_ref.UID = STUDY_UID
    diameter = _item("HAS PROPERTIES", "NUM", code("81827009", "SCT", "Diameter"))
    measured = Dataset()
    measured.NumericValue = "8"
    measured.MeasurementUnitsCodeSequence = Sequence([code("mm", "UCUM", "millimeter")])
    diameter.MeasuredValueSequence = Sequence([measured])
    image = _item("INFERRED FROM", "IMAGE", code("121112", "DCM", "Source of Measurement"))
    image.ReferencedSOPSequence = Sequence([sop_ref(CT_IMAGE, CT_IMAGE_UIDS[1])])
    diameter.ContentSequence = Sequence([image])
    morphology = _item("HAS PROPERTIES", "CODE", code("116676008", "SCT", "Associated morphology"))
    morphology.ConceptCodeSequence = Sequence([code("27925004", "SCT", "Nodule")])
    seen = _item("HAS PROPERTIES", "DATE", code("111060", "DCM", "Study Date"))
    seen.Date = "20230911"
    seen_at = _item("HAS PROPERTIES", "DATETIME", code("111526", "DCM", "DateTime Started"))
    seen_at.DateTime = "20230911084500"
    seen_time = _item("HAS PROPERTIES", "TIME", code("111061", "DCM", "Study Time"))
    seen_time.Time = "084500"
    finding = _item("CONTAINS", "TEXT", code("121071", "DCM", "Finding"))
    finding.TextValue = "Nodule of the right upper lobe in Camille Moreau (MRN-4711-0815)"
    finding.ObservationDateTime = STUDY_DATE + "112000"
    finding.ContentSequence = Sequence([diameter, morphology, seen, seen_at, seen_time])
    impression = _item("CONTAINS", "TEXT", code("121073", "DCM", "Impression"))
    impression.TextValue = "Stable since 2023, discussed with Dr Lefebvre"
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = Sequence([code("18748-4", "LN", "Diagnostic imaging report")])
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = Sequence(
        [
            observer_name,
            study_ref,
            _container("CONTAINS", code("121070", "DCM", "Findings"), [finding]),
            _container("CONTAINS", code("121072", "DCM", "Impressions"), [impression]),
        ]
    )
    add_private(ds)
    return ds


# ---------------------------------------------------------------------------------------------
# RT Structure Set and RT Plan
# ---------------------------------------------------------------------------------------------

RT_STRUCT_UID = uid("rtstruct instance")


def _approval(ds: Dataset) -> None:
    ds.ApprovalStatus = "APPROVED"
    ds.ReviewDate = "20240318"
    ds.ReviewTime = "161500"
    ds.ReviewerName = "MERCIER^Paul^^Dr."


def rt_structure_set() -> FileDataset:
    ds = common(
        RT_STRUCTURE_SET, "rtstruct", "RTSTRUCT", 903, "150000", "TPS01", "ACME Plan", series="rt"
    )
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.PositionReferenceIndicator = ""
    # Structure Set
    ds.StructureSetLabel = "MOREAU_THX"
    ds.StructureSetName = "Thorax Camille Moreau"
    ds.StructureSetDescription = "Contours by Dr Mercier"
    ds.InstanceNumber = 1
    ds.StructureSetDate = "20240318"
    ds.StructureSetTime = "143000"
    contour_images = [sop_ref(CT_IMAGE, u) for u in CT_IMAGE_UIDS]
    rt_series = Dataset()
    rt_series.SeriesInstanceUID = CT_SERIES_UID
    rt_series.ContourImageSequence = Sequence(contour_images)
    rt_study = sop_ref(DETACHED_STUDY, STUDY_UID)
    rt_study.RTReferencedSeriesSequence = Sequence([rt_series])
    frame = Dataset()
    frame.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    frame.RTReferencedStudySequence = Sequence([rt_study])
    ds.ReferencedFrameOfReferenceSequence = Sequence([frame])
    rois = []
    for number, name in ((1, "GTV"), (2, "Lung_R")):
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = FRAME_OF_REFERENCE_UID
        roi.ROIName = name
        roi.ROIDescription = f"{name} drawn for MOREAU Camille"
        roi.ROIGenerationAlgorithm = "MANUAL"
        rois.append(roi)
    ds.StructureSetROISequence = Sequence(rois)
    # ROI Contour
    contours = []
    for number, color in ((1, [255, 0, 0]), (2, [0, 128, 255])):
        contour = Dataset()
        contour.ContourImageSequence = Sequence([sop_ref(CT_IMAGE, CT_IMAGE_UIDS[1])])
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = 4
        contour.ContourNumber = 1
        s = 10.0 * number
        contour.ContourData = [-s, -s, 0.0, s, -s, 0.0, s, s, 0.0, -s, s, 0.0]
        roi_contour = Dataset()
        roi_contour.ReferencedROINumber = number
        roi_contour.ROIDisplayColor = color
        roi_contour.ContourSequence = Sequence([contour])
        contours.append(roi_contour)
    ds.ROIContourSequence = Sequence(contours)
    # RT ROI Observations
    observations = []
    for number, kind in ((1, "GTV"), (2, "ORGAN")):
        obs = Dataset()
        obs.ObservationNumber = number
        obs.ReferencedROINumber = number
        obs.ROIObservationLabel = f"obs {number} Moreau"
        obs.RTROIInterpretedType = kind
        obs.ROIInterpreter = "MERCIER^Paul"
        observations.append(obs)
    ds.RTROIObservationsSequence = Sequence(observations)
    _approval(ds)
    add_private(ds)
    return ds


def _control_point(index: int, weight: str) -> Dataset:
    cp = Dataset()
    cp.ControlPointIndex = index
    cp.CumulativeMetersetWeight = weight
    ref_dose = Dataset()
    ref_dose.ReferencedDoseReferenceNumber = 1
    ref_dose.CumulativeDoseReferenceCoefficient = weight
    cp.ReferencedDoseReferenceSequence = Sequence([ref_dose])
    if index == 0:
        cp.NominalBeamEnergy = "6"
        cp.DoseRateSet = "600"
        positions = []
        for kind in ("ASYMX", "ASYMY"):
            pos = Dataset()
            pos.RTBeamLimitingDeviceType = kind
            pos.LeafJawPositions = ["-50", "50"]
            positions.append(pos)
        cp.BeamLimitingDevicePositionSequence = Sequence(positions)
        cp.GantryAngle = "180"
        cp.GantryRotationDirection = "NONE"
        cp.BeamLimitingDeviceAngle = "0"
        cp.BeamLimitingDeviceRotationDirection = "NONE"
        cp.PatientSupportAngle = "0"
        cp.PatientSupportRotationDirection = "NONE"
        cp.TableTopEccentricAngle = "0"
        cp.TableTopEccentricRotationDirection = "NONE"
        cp.TableTopVerticalPosition = ""
        cp.TableTopLongitudinalPosition = ""
        cp.TableTopLateralPosition = ""
        cp.IsocenterPosition = ["0", "0", "0"]
        cp.SourceToSurfaceDistance = "920"
    return cp


def rt_plan() -> FileDataset:
    ds = common(RT_PLAN, "rtplan", "RTPLAN", 904, "170000", "TPS01", "ACME Plan", series="rt")
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.PositionReferenceIndicator = ""
    # RT General Plan
    ds.RTPlanLabel = "MOREAU_THX1"
    ds.RTPlanName = "Thorax plan for Camille Moreau"
    ds.RTPlanDescription = "Curative, approved by Dr Mercier"
    ds.InstanceNumber = 1
    ds.RTPlanDate = "20240319"
    ds.RTPlanTime = "101500"
    ds.TreatmentProtocols = "LUNG-SBRT-2021"
    ds.PlanIntent = "CURATIVE"
    ds.RTPlanGeometry = "PATIENT"
    ds.ReferencedStructureSetSequence = Sequence([sop_ref(RT_STRUCTURE_SET, RT_STRUCT_UID)])
    # RT Prescription
    ds.PrescriptionDescription = "54 Gy in 3 fractions, Dr Mercier"
    dose_ref = Dataset()
    dose_ref.DoseReferenceNumber = 1
    dose_ref.DoseReferenceUID = uid("dose reference 1")
    dose_ref.DoseReferenceStructureType = "VOLUME"
    dose_ref.DoseReferenceDescription = "GTV of Camille Moreau"
    dose_ref.ReferencedROINumber = 1
    dose_ref.DoseReferenceType = "TARGET"
    dose_ref.TargetPrescriptionDose = "54"
    ds.DoseReferenceSequence = Sequence([dose_ref])
    # RT Patient Setup
    setup = Dataset()
    setup.PatientSetupNumber = 1
    setup.PatientPosition = "HFS"
    setup.SetupTechnique = "ISOCENTRIC"
    setup.SetupTechniqueDescription = "Vacuum cushion labelled MOREAU"
    ds.PatientSetupSequence = Sequence([setup])
    # RT Fraction Scheme
    ref_beam = Dataset()
    ref_beam.ReferencedBeamNumber = 1
    ref_beam.BeamDose = "18"
    ref_beam.BeamMeterset = "2150.5"
    fraction = Dataset()
    fraction.FractionGroupNumber = 1
    fraction.FractionGroupDescription = "Main phase, Moreau"
    fraction.NumberOfFractionsPlanned = 3
    fraction.NumberOfBeams = 1
    fraction.NumberOfBrachyApplicationSetups = 0
    fraction.ReferencedBeamSequence = Sequence([ref_beam])
    ds.FractionGroupSequence = Sequence([fraction])
    # RT Beams
    beam = Dataset()
    beam.BeamNumber = 1
    beam.BeamName = "AP"
    beam.BeamDescription = "AP field for Camille Moreau"
    beam.BeamType = "STATIC"
    beam.RadiationType = "PHOTON"
    beam.TreatmentMachineName = "LINAC_LYON_2"
    beam.Manufacturer = "ACME Medical"
    beam.InstitutionName = INSTITUTION
    beam.InstitutionAddress = INSTITUTION_ADDRESS
    beam.InstitutionalDepartmentName = "Radiotherapie"
    beam.ManufacturerModelName = "ACME Linac 6"
    beam.DeviceSerialNumber = "LIN-2231"
    beam.PrimaryDosimeterUnit = "MU"
    beam.SourceAxisDistance = "1000"
    devices = []
    for kind in ("ASYMX", "ASYMY"):
        dev = Dataset()
        dev.RTBeamLimitingDeviceType = kind
        dev.NumberOfLeafJawPairs = 1
        devices.append(dev)
    beam.BeamLimitingDeviceSequence = Sequence(devices)
    beam.ReferencedPatientSetupNumber = 1
    beam.TreatmentDeliveryType = "TREATMENT"
    beam.NumberOfWedges = 0
    beam.NumberOfCompensators = 0
    beam.NumberOfBoli = 0
    beam.NumberOfBlocks = 0
    beam.FinalCumulativeMetersetWeight = "1"
    beam.NumberOfControlPoints = 2
    beam.ControlPointSequence = Sequence([_control_point(0, "0"), _control_point(1, "1")])
    ds.BeamSequence = Sequence([beam])
    _approval(ds)
    add_private(ds)
    return ds


# ---------------------------------------------------------------------------------------------
# Enhanced CT and Enhanced MR (multi-frame functional groups)
# ---------------------------------------------------------------------------------------------

FRAME_TIMES = ["20240315094512.250000", "20240315094512.750000"]


def _seq(**attrs: object) -> Sequence:
    """A sequence of one item with these attributes (keyword=value)."""
    item = Dataset()
    for k, v in attrs.items():
        setattr(item, k, v)
    return Sequence([item])


def _enhanced_common(ds: FileDataset, frames: int) -> None:
    """What Enhanced CT and Enhanced MR share outside their own functional groups."""
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE_UID
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    ds.BodyPartExamined = "CHEST"
    ds.ProtocolName = "Thorax Moreau protocol"
    # Enhanced General Equipment: all four Type 1
    # (Manufacturer, ManufacturerModelName, DeviceSerialNumber, SoftwareVersions set above)
    image_pixel(ds, 16, 16, frames)
    ds.AcquisitionContextSequence = Sequence([])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = FRAME_TIMES[0]
    ds.AcquisitionDuration = 1.0
    ds.ContentQualification = "PRODUCT"
    ds.ImageComments = "Camille Moreau, breath-hold"
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    ds.PresentationLUTShape = "IDENTITY"
    # Multi-frame Functional Groups
    ds.InstanceNumber = 1
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = "094530"
    ds.NumberOfFrames = frames
    # Multi-frame Dimension: one stack, indexed by In-Stack Position Number
    dim_org = uid(ds.SOPInstanceUID + " dimension organization")
    ds.DimensionOrganizationSequence = _seq(DimensionOrganizationUID=dim_org)
    dim = Dataset()
    dim.DimensionOrganizationUID = dim_org
    dim.DimensionIndexPointer = 0x00209057
    dim.FunctionalGroupPointer = 0x00209111
    dim.DimensionDescriptionLabel = "In-Stack Position"
    ds.DimensionIndexSequence = Sequence([dim])
    ds.DimensionOrganizationType = "3D"
    # Common Instance Reference: the localizer the frames refer to
    localizer_series = Dataset()
    localizer_series.SeriesInstanceUID = LOCALIZER_SERIES_UID
    localizer_series.ReferencedInstanceSequence = Sequence(
        [sop_ref(MR_IMAGE if ds.Modality == "MR" else CT_IMAGE, LOCALIZER_UID)]
    )
    ds.ReferencedSeriesSequence = Sequence([localizer_series])
    ds.ReferencedImageEvidenceSequence = Sequence(
        [
            hierarchical_ref(
                STUDY_UID,
                LOCALIZER_SERIES_UID,
                [(MR_IMAGE if ds.Modality == "MR" else CT_IMAGE, LOCALIZER_UID)],
            )
        ]
    )


def _shared_common(ds: Dataset, modality: str) -> Dataset:
    shared = Dataset()
    shared.PixelMeasuresSequence = _seq(
        PixelSpacing=["0.8", "0.8"], SliceThickness="1.25", SpacingBetweenSlices="1.25"
    )
    shared.PlaneOrientationSequence = _seq(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])
    anatomy = Dataset()
    anatomy.FrameLaterality = "U"
    anatomy.AnatomicRegionSequence = Sequence([code("51185008", "SCT", "Chest")])
    shared.FrameAnatomySequence = Sequence([anatomy])
    shared.FrameVOILUTSequence = _seq(WindowCenter="40", WindowWidth="400")
    ref = sop_ref(CT_IMAGE if modality == "CT" else MR_IMAGE, LOCALIZER_UID)
    ref.PurposeOfReferenceCodeSequence = Sequence([code("121311", "DCM", "Localizer")])
    shared.ReferencedImageSequence = Sequence([ref])
    return shared


def _per_frame(frames: int, extra: Callable[[int], Dataset] | None = None) -> Sequence:
    items = []
    for i in range(frames):
        item = Dataset() if extra is None else extra(i)
        content = Dataset()
        content.FrameAcquisitionNumber = i + 1
        content.FrameReferenceDateTime = FRAME_TIMES[i]
        content.FrameAcquisitionDateTime = FRAME_TIMES[i]
        content.FrameAcquisitionDuration = 500.0
        content.DimensionIndexValues = [i + 1]
        content.StackID = "1"
        content.InStackPositionNumber = i + 1
        content.FrameComments = f"frame {i + 1} of Camille Moreau"
        item.FrameContentSequence = Sequence([content])
        item.PlanePositionSequence = _seq(ImagePositionPatient=[-6.4, -6.4, -1.25 * i])
        items.append(item)
    return Sequence(items)


def enhanced_ct() -> FileDataset:
    ds = common(ENHANCED_CT, "enhanced ct", "CT", 5, "094500", "CTROOM3", "ACME CT 64")
    _enhanced_common(ds, 2)
    shared = _shared_common(ds, "CT")
    shared.CTImageFrameTypeSequence = _seq(
        FrameType=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"],
        PixelPresentation="MONOCHROME",
        VolumetricProperties="VOLUME",
        VolumeBasedCalculationTechnique="NONE",
    )
    shared.CTAcquisitionTypeSequence = _seq(
        AcquisitionType="SPIRAL", ConstantVolumeFlag="NO", FluoroscopyFlag="NO"
    )
    shared.CTAcquisitionDetailsSequence = _seq(
        RotationDirection="CW",
        RevolutionTime=0.5,
        SingleCollimationWidth=0.625,
        TotalCollimationWidth=40.0,
        TableHeight="150",
        GantryDetectorTilt="0",
        DataCollectionDiameter="500",
    )
    shared.CTTableDynamicsSequence = _seq(
        TableSpeed=78.75, TableFeedPerRotation=39.375, SpiralPitchFactor=0.984
    )
    shared.CTGeometrySequence = _seq(
        DistanceSourceToDetector="1040", DistanceSourceToDataCollectionCenter=570.0
    )
    shared.CTReconstructionSequence = _seq(
        ReconstructionAlgorithm="FILTER_BACK_PROJ",
        ConvolutionKernel="LUNG",
        ConvolutionKernelGroup="LUNG",
        ReconstructionFieldOfView=[350.0, 350.0],
        ReconstructionPixelSpacing=[0.8, 0.8],
        ReconstructionAngle=360.0,
        ImageFilter="NONE",
    )
    shared.CTExposureSequence = _seq(
        ExposureTimeInms=500.0,
        XRayTubeCurrentInmA=120.0,
        ExposureInmAs=60.0,
        ExposureModulationType="NONE",
        CTDIvol=4.5,
        CTDIPhantomTypeCodeSequence=Sequence([code("113691", "DCM", "IEC Body Dosimetry Phantom")]),
    )
    shared.CTXRayDetailsSequence = _seq(
        KVP="120", FocalSpots=["1.2"], FilterType="BODY", FilterMaterial=["ALUMINUM"]
    )
    shared.PixelValueTransformationSequence = _seq(
        RescaleIntercept="-1024", RescaleSlope="1", RescaleType="HU"
    )
    shared.IrradiationEventIdentificationSequence = _seq(
        IrradiationEventUID=uid("ct irradiation event")
    )
    ds.SharedFunctionalGroupsSequence = Sequence([shared])

    def ct_frame(i: int) -> Dataset:
        item = Dataset()
        item.CTPositionSequence = _seq(
            TablePosition=-100.0 - 1.25 * i,
            DataCollectionCenterPatient=[0.0, 0.0, -1.25 * i],
            ReconstructionTargetCenterPatient=[0.0, 0.0, -1.25 * i],
        )
        return item

    ds.PerFrameFunctionalGroupsSequence = _per_frame(2, ct_frame)
    add_private(ds, safe=True)
    return ds


def enhanced_mr() -> FileDataset:
    ds = common(ENHANCED_MR, "enhanced mr", "MR", 7, "095500", "MRI1-LYON", "ACME MR 3T")
    _enhanced_common(ds, 2)
    ds.ComplexImageComponent = "MAGNITUDE"
    ds.AcquisitionContrast = "T1"
    ds.ResonantNucleus = "1H"
    ds.KSpaceFiltering = "NONE"
    ds.MagneticFieldStrength = "3"
    ds.ApplicableSafetyStandardAgency = "IEC"
    # MR Pulse Sequence
    ds.PulseSequenceName = "T1_GRE_MOREAU"
    ds.MRAcquisitionType = "3D"
    ds.EchoPulseSequence = "GRADIENT"
    ds.MultiPlanarExcitation = "NO"
    ds.PhaseContrast = "NO"
    ds.TimeOfFlightContrast = "NO"
    ds.SteadyStatePulseSequence = "NONE"
    ds.EchoPlanarPulseSequence = "NO"
    ds.SaturationRecovery = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.OversamplingPhase = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.RectilinearPhaseEncodeReordering = "LINEAR"
    ds.SegmentedKSpaceTraversal = "SINGLE"
    ds.CoverageOfKSpace = "FULL"
    ds.NumberOfKSpaceTrajectories = 1
    shared = _shared_common(ds, "MR")
    shared.MRImageFrameTypeSequence = _seq(
        FrameType=["ORIGINAL", "PRIMARY", "VOLUME", "NONE"],
        PixelPresentation="MONOCHROME",
        VolumetricProperties="VOLUME",
        VolumeBasedCalculationTechnique="NONE",
        ComplexImageComponent="MAGNITUDE",
        AcquisitionContrast="T1",
    )
    shared.PixelValueTransformationSequence = _seq(
        RescaleIntercept="0", RescaleSlope="1", RescaleType="US"
    )
    shared.MRTimingAndRelatedParametersSequence = _seq(
        RepetitionTime="8.2",
        FlipAngle="12",
        EchoTrainLength="1",
        RFEchoTrainLength=1,
        GradientEchoTrainLength=1,
        GradientOutputType="DB_DT",
        GradientOutput=50.0,
        SpecificAbsorptionRateSequence=_seq(
            SpecificAbsorptionRateDefinition="IEC_WHOLE_BODY", SpecificAbsorptionRateValue=0.8
        ),
        OperatingModeSequence=_seq(OperatingModeType="RF", OperatingMode="IEC_NORMAL"),
    )
    shared.MRFOVGeometrySequence = _seq(
        InPlanePhaseEncodingDirection="ROW",
        MRAcquisitionFrequencyEncodingSteps=256,
        MRAcquisitionPhaseEncodingStepsInPlane=256,
        MRAcquisitionPhaseEncodingStepsOutOfPlane=96,
        PercentSampling="100",
        PercentPhaseFieldOfView="100",
    )
    shared.MREchoSequence = _seq(EffectiveEchoTime=3.1)
    shared.MRModifierSequence = _seq(
        InversionRecovery="NO",
        FlowCompensation="NONE",
        Spoiling="RF",
        T2Preparation="NO",
        SpectrallySelectedExcitation="NONE",
        SpatialPresaturation="NONE",
        PartialFourier="NO",
        ParallelAcquisition="NO",
    )
    shared.MRImagingModifierSequence = _seq(
        MagnetizationTransfer="NONE",
        BloodSignalNulling="NO",
        Tagging="NONE",
        TransmitterFrequency=127.7,
        PixelBandwidth="300",
    )
    shared.MRReceiveCoilSequence = _seq(
        ReceiveCoilName="BODY18",
        ReceiveCoilManufacturerName="ACME Medical",
        ReceiveCoilType="MULTICOIL",
        QuadratureReceiveCoil="NO",
        MultiCoilDefinitionSequence=_seq(MultiCoilElementName="B1", MultiCoilElementUsed="YES"),
    )
    shared.MRTransmitCoilSequence = _seq(
        TransmitCoilName="BODY",
        TransmitCoilManufacturerName="ACME Medical",
        TransmitCoilType="BODY",
    )
    shared.MRAveragesSequence = _seq(NumberOfAverages="1")
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = _per_frame(2)
    add_private(ds)
    philips = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    philips.add_new(0x03, "FL", 0.0)  # MR Image Diffusion B-Factor, a safe private attribute
    return ds


# ---------------------------------------------------------------------------------------------
# Encapsulated PDF
# ---------------------------------------------------------------------------------------------


def tiny_pdf(text: str) -> bytes:
    """A minimal valid PDF 1.4 of one page showing ``text`` (with a correct xref table)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def encapsulated_pdf() -> FileDataset:
    ds = common(ENCAPSULATED_PDF, "pdf", "DOC", 905, "120000", "SCAN02", "ACME Scan", series="doc")
    ds.ConversionType = "SD"
    # Encapsulated Document
    ds.InstanceNumber = 1
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = "115900"
    ds.AcquisitionDateTime = STUDY_DATE + "115800"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Referral letter for Camille Moreau"
    ds.ConceptNameCodeSequence = Sequence([code("18842-5", "LN", "Discharge summary")])
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    pdf = tiny_pdf("Camille Moreau, born 12/06/1958, MRN-4711-0815")
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    add_private(ds)
    return ds


# ---------------------------------------------------------------------------------------------
# 12-lead ECG
# ---------------------------------------------------------------------------------------------

LEADS = [
    ("2:1", "Lead I"),
    ("2:2", "Lead II"),
    ("2:61", "Lead III"),
    ("2:62", "Lead aVR"),
    ("2:63", "Lead aVL"),
    ("2:64", "Lead aVF"),
    ("2:3", "Lead V1"),
    ("2:4", "Lead V2"),
    ("2:5", "Lead V3"),
    ("2:6", "Lead V4"),
    ("2:7", "Lead V5"),
    ("2:8", "Lead V6"),
]


def twelve_lead_ecg() -> FileDataset:
    ds = common(TWELVE_LEAD_ECG, "ecg", "ECG", 906, "091000", "ECG-CARDIO2", "ACME ECG 12")
    # Waveform Identification: content date and time, acquisition date-time all Type 1
    ds.InstanceNumber = 1
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = "091105"
    ds.AcquisitionDateTime = STUDY_DATE + "091000"
    ds.AcquisitionContextSequence = Sequence([])
    samples = 100
    channels = []
    for value, meaning in LEADS:
        channel = Dataset()
        channel.ChannelSourceSequence = Sequence([code(value, "MDC", meaning)])
        channel.ChannelSensitivity = "2.5"
        channel.ChannelSensitivityUnitsSequence = Sequence([code("uV", "UCUM", "microvolt")])
        channel.ChannelSensitivityCorrectionFactor = "1"
        channel.ChannelBaseline = "0"
        channel.ChannelTimeSkew = "0"
        channel.WaveformBitsStored = 16
        channel.FilterLowFrequency = "0.05"
        channel.FilterHighFrequency = "150"
        channels.append(channel)
    t = np.arange(samples)
    data = np.stack([(np.sin(t / 8.0 + c) * 400).astype(np.int16) for c in range(len(LEADS))])
    group = Dataset()
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(LEADS)
    group.NumberOfWaveformSamples = samples
    group.SamplingFrequency = "500"
    group.MultiplexGroupLabel = "RHYTHM"
    group.ChannelDefinitionSequence = Sequence(channels)
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = data.T.astype("<i2").tobytes()  # interleaved, sample by sample
    ds.WaveformSequence = Sequence([group])
    annotation = Dataset()
    annotation.UnformattedTextValue = "Read by Dr Bonnet for Camille Moreau: sinus rhythm"
    annotation.ReferencedWaveformChannels = [1, 0]
    ds.WaveformAnnotationSequence = Sequence([annotation])
    add_private(ds)
    return ds


# ---------------------------------------------------------------------------------------------
# Secondary Capture and Ultrasound Multi-frame
# ---------------------------------------------------------------------------------------------


def secondary_capture() -> FileDataset:
    ds = common(SECONDARY_CAPTURE, "sc", "OT", 907, "133000", "RADWS07", "ACME Viewer")
    ds.BodyPartExamined = "CHEST"
    # SC Equipment
    ds.ConversionType = "WSD"
    ds.SecondaryCaptureDeviceID = "WS-RAD-07"
    ds.SecondaryCaptureDeviceManufacturer = "ACME Medical"
    ds.SecondaryCaptureDeviceManufacturerModelName = "ACME Viewer"
    ds.SecondaryCaptureDeviceSoftwareVersions = "3.2"
    # General Image
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = "132958"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ImageComments = "Screenshot for Camille Moreau's tumour board"
    ds.DerivationDescription = "Key image exported by Dr Bonnet"
    ds.SourceImageSequence = Sequence([sop_ref(CT_IMAGE, CT_IMAGE_UIDS[1])])
    ds.ReferencedImageSequence = Sequence([sop_ref(CT_IMAGE, CT_IMAGE_UIDS[0])])
    ds.BurnedInAnnotation = "YES"
    image_pixel(ds, 16, 16, bits=8)
    # SC Image
    ds.DateOfSecondaryCapture = STUDY_DATE
    ds.TimeOfSecondaryCapture = "132958"
    # Overlay Plane, with a description and label that name the patient
    ds.add_new(0x60000010, "US", 16)  # Overlay Rows
    ds.add_new(0x60000011, "US", 16)  # Overlay Columns
    ds.add_new(0x60000022, "LO", "Arrow to nodule, Moreau")  # Overlay Description
    ds.add_new(0x60000040, "CS", "G")  # Overlay Type
    ds.add_new(0x60000050, "SS", [1, 1])  # Overlay Origin
    ds.add_new(0x60000100, "US", 1)  # Overlay Bits Allocated
    ds.add_new(0x60000102, "US", 0)  # Overlay Bit Position
    ds.add_new(0x60001500, "LO", "MOREAU")  # Overlay Label
    overlay = np.zeros((16, 16), dtype=np.uint8)
    overlay[4:12, 8] = 1
    ds.add_new(0x60003000, "OW", np.packbits(overlay.ravel(), bitorder="little").tobytes())
    add_private(ds)
    return ds


def us_multiframe() -> FileDataset:
    ds = common(US_MULTIFRAME, "us", "US", 908, "081500", "ECHO-3", "ACME Sono 9")
    ds.BodyPartExamined = "CHEST"
    frames = 3
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.ContentDate = STUDY_DATE
    ds.ContentTime = "081630"
    ds.AcquisitionDateTime = STUDY_DATE + "081600"
    ds.ImageComments = "Liver, Camille Moreau"
    ds.BurnedInAnnotation = "NO"
    image_pixel(ds, 16, 16, frames, bits=8)
    # US Image
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0001"]
    ds.LossyImageCompression = "00"
    ds.NumberOfStages = 1
    ds.NumberOfViewsInStage = 1
    ds.TransducerData = "C5-1 Moreau"
    # Contrast/Bolus
    ds.ContrastBolusAgent = "SonoVue 2.4 ml for C. Moreau"
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = "2.4"
    ds.ContrastBolusStartTime = "081540"
    ds.TransducerType = "CURVED LINEAR"
    # Cine and Multi-frame
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x00181063
    ds.FrameTime = "33.3"
    ds.CineRate = 30
    # US Region Calibration
    region = Dataset()
    region.RegionSpatialFormat = 1
    region.RegionDataType = 1
    region.RegionFlags = 0
    region.RegionLocationMinX0 = 0
    region.RegionLocationMinY0 = 0
    region.RegionLocationMaxX1 = 15
    region.RegionLocationMaxY1 = 15
    region.PhysicalUnitsXDirection = 3
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = 0.05
    region.PhysicalDeltaY = 0.05
    region.ReferencePixelX0 = 8
    region.ReferencePixelY0 = 0
    region.ReferencePixelPhysicalValueX = 0.0
    region.ReferencePixelPhysicalValueY = 0.0
    region.TransducerFrequency = 3500
    ds.SequenceOfUltrasoundRegions = Sequence([region])
    add_private(ds)
    return ds


# ---------------------------------------------------------------------------------------------

#: Builders by name, in the order of the issue.
BUILDERS: dict[str, Callable[[], FileDataset]] = {
    "gsps": gsps,
    "comprehensive_sr": comprehensive_sr,
    "rt_structure_set": rt_structure_set,
    "rt_plan": rt_plan,
    "enhanced_ct": enhanced_ct,
    "enhanced_mr": enhanced_mr,
    "encapsulated_pdf": encapsulated_pdf,
    "twelve_lead_ecg": twelve_lead_ecg,
    "secondary_capture": secondary_capture,
    "us_multiframe": us_multiframe,
}


def write(name: str, path: str | os.PathLike) -> None:
    """Write the object ``name`` as a Part 10 file (explicit VR little endian)."""
    ds = BUILDERS[name]()
    ds.save_as(path, enforce_file_format=True)


if __name__ == "__main__":  # write them all into a folder, to look at them with other tools
    import sys

    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(folder, exist_ok=True)
    for n in BUILDERS:
        write(n, os.path.join(folder, n + ".dcm"))
        print(os.path.join(folder, n + ".dcm"))
