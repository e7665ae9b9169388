/** Encrypted backups of a gateway's state, and their verification and restore (docs/backup.md). */
export { createBackup, recordLastBackup, LAST_BACKUP_FILE, type BackupLayout, type BackupReport, type CreateBackupOptions, type LastBackup } from './create.js';
export { verifyBackup, restoreBackup, processesHolding, type BackupCheck, type RestoreOptions, type RestoreReport } from './restore.js';
export { backupKeyId, ArchiveReader, type HeadRecord, type EndRecord, type EndEntry, type FileRecord, type BackupRoot } from './format.js';
