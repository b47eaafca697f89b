; Vigil agent installer for Windows (built by `make windows`, see docs/WINDOWS.md).
;
; Silent install, enrolling the device and starting the service:
;   vigil-agent-setup.exe /S /SERVER=collector.example.com:7443 /TOKEN=<enrollment token> [/CA=C:\path\ca.pem]
; The collector's CA certificate is pinned at enrollment: /CA=path, or ca.pem beside the installer.
; An already enrolled machine (device.pem in the data directory) is upgraded in place: the binary
; is replaced and the service restarted, without /SERVER or /TOKEN.
; Exit codes (silent mode): 0 installed; 2 missing or bad arguments; 3 enrollment failed;
; 4 the service could not be installed or started.
;
; Uninstall: "C:\Program Files\Vigil\uninstall.exe" /S  (keeps the data directory; /PURGE removes it)

; A 64-bit installer (the agent is x64 only): runs where the agent runs, and under wine64 alone.
Target amd64-unicode
SetCompressor /SOLID lzma
RequestExecutionLevel admin
ManifestSupportedOS all

!ifndef VERSION
  !define VERSION "0.0.0"
!endif
!ifndef AGENT_EXE
  !error "pass -DAGENT_EXE=path/to/vigil-agent.exe"
!endif
!ifndef OUTFILE
  !define OUTFILE "vigil-agent-setup-${VERSION}.exe"
!endif

!define SERVICE "VigilAgent"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\VigilAgent"

!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "x64.nsh"

Name "Vigil agent ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\Vigil"
ShowInstDetails show
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "Vigil agent"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "Vigil endpoint agent installer"
VIAddVersionKey "LegalCopyright" "Vigil"

Var Server
Var Token
Var CaFile
Var DataDir

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "The Vigil agent needs 64-bit Windows." /SD IDOK
    SetErrorLevel 2
    Quit
  ${EndIf}
  SetRegView 64
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/SERVER=" $Server
  ${GetOptions} $R0 "/TOKEN=" $Token
  ${GetOptions} $R0 "/CA=" $CaFile
  ${If} $CaFile == ""
    StrCpy $CaFile "$EXEDIR\ca.pem"
  ${EndIf}
  SetShellVarContext all
  StrCpy $DataDir "$APPDATA\Vigil"  ; C:\ProgramData\Vigil
FunctionEnd

Function Fail
  ; $0: exit code, $1: message
  DetailPrint "$1"
  MessageBox MB_ICONSTOP "$1" /SD IDOK
  SetErrorLevel $0
  Quit
FunctionEnd

Section "Vigil agent" SecAgent
  SetShellVarContext all
  ; An upgrade: stop the running service first so the binary can be replaced.
  nsExec::ExecToLog 'sc.exe stop ${SERVICE}'
  Pop $0
  Sleep 2000

  SetOutPath "$INSTDIR"
  File "/oname=vigil-agent.exe" "${AGENT_EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$DataDir"
  ; Administrators and SYSTEM only: the device key and the spool live here.
  nsExec::ExecToLog 'icacls "$DataDir" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F'
  Pop $0

  ${IfNot} ${FileExists} "$DataDir\device.pem"
    ${If} $Server == ""
    ${OrIf} $Token == ""
      StrCpy $0 2
      StrCpy $1 "Not enrolled yet: pass /SERVER=host:port and /TOKEN=token (and /CA=ca.pem)."
      Call Fail
    ${EndIf}
    ${IfNot} ${FileExists} "$CaFile"
      StrCpy $0 2
      StrCpy $1 "The collector's CA certificate was not found at $CaFile: pass /CA=path\to\ca.pem."
      Call Fail
    ${EndIf}
    DetailPrint "Enrolling with $Server"
    nsExec::ExecToLog '"$INSTDIR\vigil-agent.exe" enroll --server "$Server" --token "$Token" --ca "$CaFile" --data-dir "$DataDir"'
    Pop $0
    ${If} $0 != 0
      StrCpy $1 "Enrollment with $Server failed (vigil-agent exit code $0); see the details above."
      StrCpy $0 3
      Call Fail
    ${EndIf}
  ${EndIf}

  ; The service: LocalSystem, automatic start, restarted on failure (the agent records the gap).
  nsExec::ExecToLog 'sc.exe query ${SERVICE}'
  Pop $0
  ${If} $0 != 0
    nsExec::ExecToLog 'sc.exe create ${SERVICE} binPath= "\"$INSTDIR\vigil-agent.exe\" run --data-dir \"$DataDir\"" start= auto DisplayName= "Vigil endpoint agent"'
    Pop $0
    ${If} $0 != 0
      StrCpy $1 "Could not create the ${SERVICE} service (sc.exe exit code $0)."
      StrCpy $0 4
      Call Fail
    ${EndIf}
  ${EndIf}
  nsExec::ExecToLog 'sc.exe description ${SERVICE} "Records file, device, print, session and security-setting activity for Vigil."'
  Pop $0
  nsExec::ExecToLog 'sc.exe failure ${SERVICE} reset= 86400 actions= restart/5000/restart/5000/restart/60000'
  Pop $0
  nsExec::ExecToLog 'sc.exe start ${SERVICE}'
  Pop $0
  ${If} $0 != 0
    StrCpy $1 "The ${SERVICE} service did not start (sc.exe exit code $0)."
    StrCpy $0 4
    Call Fail
  ${EndIf}

  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "Vigil agent"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "Vigil"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
SectionEnd

Function un.onInit
  SetRegView 64
FunctionEnd

Section "Uninstall"
  SetShellVarContext all
  nsExec::ExecToLog 'sc.exe stop ${SERVICE}'
  Pop $0
  Sleep 2000
  nsExec::ExecToLog 'sc.exe delete ${SERVICE}'
  Pop $0
  Delete "$INSTDIR\vigil-agent.exe"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/PURGE" $R1
  ${IfNot} ${Errors}
    RMDir /r "$APPDATA\Vigil"
  ${EndIf}
  DeleteRegKey HKLM "${UNINST_KEY}"
SectionEnd
