"""Steps around a render that copier itself does not do (installed as dsgen.hooks).

Every answer check is a copier validator in copier.yml, so plain `copier copy`
refuses the same answers as `dsgen new`; what lives here runs after a render.
"""
