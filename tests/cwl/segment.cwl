# What has no place in a tool spec: expressions, a name that is no field name, a staged file, no image.
cwlVersion: v1.2
class: CommandLineTool
baseCommand: [python3, /opt/segment.py]
requirements:
  InlineJavascriptRequirement: {}
  InitialWorkDirRequirement:
    listing: [$(inputs.images)]
inputs:
  images:
    type: Directory
    inputBinding: {prefix: --images}
  min-size:
    type: float
    default: 12.5
    inputBinding: {prefix: --min-size}
  sample:
    type: string
    inputBinding: {prefix: --out, valueFrom: $(self).csv}
arguments:
  - valueFrom: $(runtime.cores)
    prefix: --workers
outputs:
  table:
    type: File
    outputBinding: {glob: $(inputs.sample).csv}
