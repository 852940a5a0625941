"""App usage snippets written beside a packaged model: Kotlin (MediaPipe Tasks, Android) and
Swift (MediaPipe Tasks, iOS), with the model's real file name, input size and labels."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SnippetFacts:
    """What the snippets say about the model."""

    model_file: str
    height: int
    width: int
    classes: int
    labels_file: str
    first_labels: tuple[str, ...]
    input_dtype: str
    delegate: str  # xnnpack, gpu
    assets_dir: str


def kotlin(f: SnippetFacts) -> str:
    """Android: MediaPipe Tasks ImageClassifier on a Bitmap."""
    delegate = "Delegate.GPU" if f.delegate == "gpu" else "Delegate.CPU"
    return f"""// {f.model_file}: image classifier, input {f.width}x{f.height} ({f.input_dtype}), {f.classes} classes
// Put {f.model_file} into {f.assets_dir or "app/src/main/assets"}/; its labels ({f.labels_file}) and
// normalization are packed inside it. Gradle: implementation("com.google.mediapipe:tasks-vision:<version>")
import android.content.Context
import android.graphics.Bitmap
import com.google.mediapipe.framework.image.BitmapImageBuilder
import com.google.mediapipe.tasks.core.BaseOptions
import com.google.mediapipe.tasks.core.Delegate
import com.google.mediapipe.tasks.vision.core.RunningMode
import com.google.mediapipe.tasks.vision.imageclassifier.ImageClassifier

fun createClassifier(context: Context): ImageClassifier {{
    val base = BaseOptions.builder()
        .setModelAssetPath("{f.model_file}")
        .setDelegate({delegate})
        .build()
    val options = ImageClassifier.ImageClassifierOptions.builder()
        .setBaseOptions(base)
        .setRunningMode(RunningMode.IMAGE)
        .setMaxResults(3)
        .build()
    return ImageClassifier.createFromOptions(context, options)
}}

// Scale the bitmap to {f.width}x{f.height} yourself for results identical to edgesdk's checks
// (MediaPipe resizes other sizes itself). Labels: {", ".join(f.first_labels)}{", ..." if f.classes > len(f.first_labels) else ""}
fun classify(classifier: ImageClassifier, bitmap: Bitmap): Pair<String, Float> {{
    val scaled = Bitmap.createScaledBitmap(bitmap, {f.width}, {f.height}, true)
    val result = classifier.classify(BitmapImageBuilder(scaled).build())
    val top = result.classificationResult().classifications()[0].categories()[0]
    return top.categoryName() to top.score()
}}
"""


def swift(f: SnippetFacts) -> str:
    """iOS: MediaPipe Tasks ImageClassifier on a UIImage."""
    name, _, ext = f.model_file.rpartition(".")
    delegate = ".GPU" if f.delegate == "gpu" else ".CPU"
    return f"""// {f.model_file}: image classifier, input {f.width}x{f.height} ({f.input_dtype}), {f.classes} classes
// Add {f.model_file} to the app target (it is copied into {f.assets_dir or "Resources"}); its labels
// ({f.labels_file}) and normalization are packed inside it. CocoaPods: pod 'MediaPipeTasksVision'
import MediaPipeTasksVision
import UIKit

func makeClassifier() throws -> ImageClassifier {{
    guard let path = Bundle.main.path(forResource: "{name}", ofType: "{ext}") else {{
        throw NSError(domain: "model", code: 1, userInfo: [NSLocalizedDescriptionKey: "{f.model_file} is not in the app bundle"])
    }}
    let options = ImageClassifierOptions()
    options.baseOptions.modelAssetPath = path
    options.baseOptions.delegate = {delegate}
    options.runningMode = .image
    options.maxResults = 3
    return try ImageClassifier(options: options)
}}

// Give it images already {f.width}x{f.height} for results identical to edgesdk's checks.
// Labels: {", ".join(f.first_labels)}{", ..." if f.classes > len(f.first_labels) else ""}
func classify(_ classifier: ImageClassifier, _ image: UIImage) throws -> (String, Float)? {{
    let result = try classifier.classify(image: try MPImage(uiImage: image))
    guard let top = result.classificationResult.classifications.first?.categories.first else {{ return nil }}
    return (top.categoryName ?? String(top.index), top.score)
}}
"""
